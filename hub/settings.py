"""The hub's one settings tree: a TOML file validated once at start and passed explicitly.

Unknown keys are refused (``extra="forbid"``), every field is described and bounded, and an error
names its path (``broker.port: Input should be less than or equal to 65535``). Relative paths in
the file are taken relative to the file's own folder, so a config and its keys can move together.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Final, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cctv_common.evidence.signing import KeyFileError, load_public_key
from cctv_common.loopback import plain_mqtt_refusal
from cctv_common.wire.ids import ID_PATTERN, SiteId
from hub.domain.acl import Role
from hub.settings_database import (
    SHARED_GROUP_HELP,
    WORKER_HELP,
    WORKER_PATTERN,
    DatabaseSettings,
)
from hub.settings_enrollment import EnrollmentSettings
from hub.settings_exhibits import ExhibitSettings
from hub.settings_fleet import AlertSettings, MetricsSettings
from hub.settings_login import LoginSettings
from hub.settings_requests import RequestSettings, SmtpSection
from hub.settings_uploads import UploadSettings
from hub.storage.evidence.settings import (
    CredentialsError,
    EvidenceStoreSettings,
    FilesystemStoreSettings,
    S3StoreSettings,
)

GIB: Final = 1024**3
USERNAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"

Username = Annotated[
    str,
    Field(
        pattern=USERNAME_PATTERN,
        description="Login name: letters, digits, _ . @ and -, at most 64",
    ),
]


class _StrictSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpSettings(_StrictSettings):
    host: str = Field(
        default="127.0.0.1", min_length=1, max_length=253, description="Address to listen on"
    )
    port: int = Field(default=8080, ge=0, le=65535, description="HTTP port (0: any free port)")
    cookie_secure: bool = Field(
        default=False,
        description="Send the session cookie over HTTPS only (set true behind a TLS proxy)",
    )
    session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="How long a login session lasts"
    )
    session_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Key that signs session cookies; default: generated into data_dir (0600)",
    )
    forwarded_allow_ips: tuple[
        Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[0-9A-Fa-f:./*]+$")], ...
    ] = Field(
        default=("127.0.0.1",),
        max_length=100,
        description="Reverse proxies (addresses or networks) whose X-Forwarded-For names the"
        " client; login throttling is per client address, so list the proxy here",
    )


class BrokerSettings(_StrictSettings):
    host: str = Field(default="127.0.0.1", min_length=1, max_length=253, description="MQTT broker")
    port: int = Field(default=8883, ge=1, le=65535, description="MQTT broker port")
    username: str = Field(default="hub", min_length=1, max_length=128, description="Broker user")
    password: SecretStr | None = Field(
        default=None, max_length=256, description="Broker password (never logged)"
    )
    password_file: Path | None = Field(
        default=None, description="File holding the broker password, instead of password"
    )
    tls: bool = Field(default=True, description="Use TLS to the broker")
    ca_file: Path | None = Field(
        default=None, description="CA bundle that signed the broker's certificate"
    )
    keepalive_seconds: int = Field(default=30, ge=5, le=600, description="MQTT keepalive")
    session_expiry_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        le=2**32 - 1,
        description="How long the broker keeps the hub's session and queued messages while away",
    )
    reconnect_min_seconds: int = Field(
        default=1, ge=1, le=60, description="First wait before reconnecting to the broker"
    )
    reconnect_max_seconds: int = Field(
        default=30, ge=1, le=600, description="Longest wait between reconnect attempts"
    )
    shared_group: str | None = Field(
        default=None, pattern=WORKER_PATTERN, description=SHARED_GROUP_HELP
    )
    worker_id: str | None = Field(default=None, pattern=WORKER_PATTERN, description=WORKER_HELP)

    @model_validator(mode="after")
    def _one_password(self) -> Self:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        if self.shared_group is not None and self.worker_id is None:
            raise ValueError("shared_group needs this worker's worker_id (one per hub worker)")
        refusal = plain_mqtt_refusal(self.host, self.tls)
        if refusal is not None:
            raise ValueError(refusal)
        return self

    def resolved_password(self) -> str | None:
        """The password, read from ``password_file`` when that is how it is given."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(
                    str(self.password_file),
                    [f"broker.password_file: cannot read: {exc.strerror or exc}"],
                ) from exc
        return None


class SiteSettings(_StrictSettings):
    """A site registered in the config, with the public key its agent signs manifests with."""

    site_id: SiteId
    name: str = Field(default="", max_length=200, description="Human name, e.g. 'High Street'")
    public_key_pem: str | None = Field(
        default=None, max_length=4000, description="Ed25519 public key (PEM), inline"
    )
    public_key_file: Path | None = Field(
        default=None, description="File holding the Ed25519 public key (PEM)"
    )

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if (self.public_key_pem is None) == (self.public_key_file is None):
            raise ValueError("give exactly one of public_key_pem or public_key_file")
        if self.public_key_pem is not None:
            try:
                load_public_key(self.public_key_pem)
            except KeyFileError as exc:
                raise ValueError(f"public_key_pem: {exc}") from exc
        return self

    def resolved_public_key_pem(self) -> str:
        if self.public_key_pem is not None:
            return self.public_key_pem
        assert self.public_key_file is not None
        try:
            pem = self.public_key_file.read_text(encoding="ascii")
            load_public_key(pem)
        except (OSError, UnicodeDecodeError, KeyFileError) as exc:
            raise SettingsError(
                str(self.public_key_file),
                [f"sites.{self.site_id}.public_key_file: cannot use: {exc}"],
            ) from exc
        return pem


class UserSettings(_StrictSettings):
    username: Username
    role: Role = Field(description="police, operator, supervisor, engineer or auditor")
    password_hash: str = Field(
        pattern=r"^scrypt\$",
        max_length=300,
        description="From `cctv-hub hash-password`; never the password itself",
    )


class IngestSettings(_StrictSettings):
    max_clip_bytes: int = Field(
        default=8 * GIB, ge=1024, le=1024 * GIB, description="Largest clip the hub accepts"
    )
    stale_upload_hours: float = Field(
        default=72.0,
        gt=0,
        le=24 * 365,
        description="An unfinished upload untouched for this long is discarded",
    )
    ack_every_chunks: int = Field(
        default=16, ge=1, le=1024, description="Send a receiving ack after this many chunks"
    )
    ack_delay_seconds: float = Field(
        default=0.5,
        gt=0,
        le=30,
        description="Ack this long after the last chunk when chunks are still missing",
    )
    max_queued_chunk_bytes: int = Field(
        default=256 * 1024**2,
        ge=16 * 1024**2,
        le=64 * GIB,
        description="Chunks waiting in memory beyond this are dropped (and asked for again)",
    )
    min_free_bytes: int = Field(
        default=GIB, ge=0, description="Refuse to start an upload that would leave less disk free"
    )


class IceServerSettings(_StrictSettings):
    """A STUN or TURN server for live view, given to the site's agent and to the browser."""

    urls: tuple[Annotated[str, Field(pattern=r"^(stun|turn|turns):", max_length=500)], ...] = Field(
        min_length=1, max_length=10, description="stun:, turn: or turns: URLs"
    )
    username: str | None = Field(default=None, max_length=200, description="TURN user name")
    # repr=False: a TURN credential must not show up in logs. It does go to the viewer's
    # browser, which needs it to use the TURN server.
    credential: str | None = Field(
        default=None, max_length=500, repr=False, description="TURN credential (never logged)"
    )


class LiveSettings(_StrictSettings):
    ice_servers: tuple[IceServerSettings, ...] = Field(
        default=(), max_length=10, description="STUN/TURN servers for live view (none on a LAN)"
    )
    answer_timeout_seconds: float = Field(
        default=15.0, gt=0, le=120, description="How long to wait for a site's live answer"
    )


class EvidenceSettings(_StrictSettings):
    """Re-verification of stored evidence (see README, "Evidence integrity")."""

    scrub: bool = Field(
        default=True, description="Re-hash every stored item in the background on a schedule"
    )
    scrub_interval_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 365,
        description="Each item is re-hashed at least this often by the background scrub",
    )
    scrub_mb_per_second: float = Field(
        default=20.0,
        gt=0,
        le=100_000,
        description="The scrub reads at most this many MB (10^6 bytes) per second, so it never"
        " starves playback and downloads",
    )
    reverify_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 365,
        description="A range read (playback, a resumed download) is served on a verification"
        " at most this old; an older one is re-hashed first",
    )


class CustodySettings(_StrictSettings):
    """The custody log's signed checkpoints (see README, "Custody log")."""

    checkpoint_path: Path | None = Field(
        default=None,
        description="Append-only file of signed chain heads; default data_dir/custody-checkpoints"
        ".jsonl. Put it on other storage (another disk, a log host's mount) than the database",
    )
    checkpoint_interval_seconds: float = Field(
        default=60.0,
        ge=1,
        le=24 * 3600,
        description="How often the hub signs the chain head when it has moved (and on shutdown)",
    )


class HubSettings(_StrictSettings):
    hub_id: Annotated[str, Field(pattern=ID_PATTERN, description="This hub's id (MQTT client id)")]
    data_dir: Path = Field(description="Database, evidence store, staging files and secrets")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    broker: BrokerSettings | None = Field(
        default=None, description="MQTT broker; without it the hub serves what it holds only"
    )
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    live: LiveSettings = Field(default_factory=LiveSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    evidence_store: EvidenceStoreSettings = Field(
        default_factory=FilesystemStoreSettings,
        description="Where evidence is kept: data_dir/evidence (default) or an S3 bucket",
    )
    audit: CustodySettings = Field(default_factory=CustodySettings)
    login: LoginSettings = Field(default_factory=LoginSettings)
    requests: RequestSettings = Field(default_factory=RequestSettings)
    exhibits: ExhibitSettings = Field(default_factory=ExhibitSettings)
    smtp: SmtpSection | None = Field(default=None, description="Mail relay; none: mail is logged")
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    enrollment: EnrollmentSettings | None = Field(
        default=None, description="The broker the hub runs for its sites; site tokens"
    )
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    sites: tuple[SiteSettings, ...] = Field(
        default=(), max_length=10_000, description="Sites registered by config"
    )
    users: tuple[UserSettings, ...] = Field(
        default=(), max_length=10_000, description="Users and their roles"
    )

    @field_validator("sites")
    @classmethod
    def _unique_sites(cls, sites: tuple[SiteSettings, ...]) -> tuple[SiteSettings, ...]:
        ids = [site.site_id for site in sites]
        for site_id in ids:
            if ids.count(site_id) > 1:
                raise ValueError(f"site {site_id!r} is given twice")
        return sites

    @field_validator("users")
    @classmethod
    def _unique_users(cls, users: tuple[UserSettings, ...]) -> tuple[UserSettings, ...]:
        names = [user.username for user in users]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"user {name!r} is given twice")
        return users

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path, info: ValidationInfo) -> Path:
        base = info.context.get("base_dir") if isinstance(info.context, dict) else None
        return _resolve(value, base)

    def check_files(self) -> None:
        """Read every file the settings name (site keys, broker password), as the hub will at
        start; raises ``SettingsError`` naming the file, so problems show before serving."""
        for site in self.sites:
            site.resolved_public_key_pem()
        if self.broker is not None:
            self.broker.resolved_password()
        if isinstance(self.evidence_store, S3StoreSettings):
            try:
                self.evidence_store.load_credentials()
            except CredentialsError as exc:
                raise SettingsError(
                    str(self.evidence_store.credentials_file),
                    [f"evidence_store.credentials_file: {exc}"],
                ) from exc

    # Paths derived from data_dir.

    @property
    def db_path(self) -> Path:
        return self.data_dir / "hub.db"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def staging_dir(self) -> Path:
        return self.data_dir / "staging"

    @property
    def upload_staging_dir(self) -> Path:
        return self.uploads.staging_dir or self.data_dir / "upload-staging"

    @property
    def session_secret_path(self) -> Path:
        return self.data_dir / "session_secret"

    @property
    def checkpoint_path(self) -> Path:
        """Where the custody log's signed checkpoints are appended (outside the database)."""
        configured = self.audit.checkpoint_path
        return self.data_dir / "custody-checkpoints.jsonl" if configured is None else configured

    @property
    def hub_key_path(self) -> Path:
        """The hub's Ed25519 private key (0600, created on first start): it signs what the hub
        tells sites (acks, jobs, holds) and the custody log's checkpoints."""
        return self.data_dir / "hub_key.pem"


class SettingsError(Exception):
    """The settings cannot be used; ``errors`` holds one ``path: message`` line per problem."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(errors))


def _resolve(path: Path, base: Any) -> Path:
    path = path.expanduser()
    if not path.is_absolute() and isinstance(base, Path):
        path = base / path
    return path


def _relative_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Resolve the file paths that the TOML gives relative to its folder (data_dir via context)."""
    out = dict(data)
    broker = out.get("broker")
    if isinstance(broker, dict):
        broker = dict(broker)
        for key in ("password_file", "ca_file"):
            if isinstance(broker.get(key), str):
                broker[key] = str(_resolve(Path(broker[key]), base))
        out["broker"] = broker
    smtp = out.get("smtp")
    if isinstance(smtp, dict):
        smtp = {
            key: str(_resolve(Path(value), base))
            if key in ("password_file", "ca_file") and isinstance(value, str)
            else value
            for key, value in smtp.items()
        }
        out["smtp"] = smtp
    audit = out.get("audit")
    if isinstance(audit, dict) and isinstance(audit.get("checkpoint_path"), str):
        audit = dict(audit)
        audit["checkpoint_path"] = str(_resolve(Path(audit["checkpoint_path"]), base))
        out["audit"] = audit
    store = out.get("evidence_store")
    if isinstance(store, dict):
        store = dict(store)
        for key in ("credentials_file", "ca_file"):
            if isinstance(store.get(key), str):
                store[key] = str(_resolve(Path(store[key]), base))
        out["evidence_store"] = store
    sites = out.get("sites")
    if isinstance(sites, list):
        resolved = []
        for site in sites:
            if isinstance(site, dict) and isinstance(site.get("public_key_file"), str):
                site = dict(site)
                site["public_key_file"] = str(_resolve(Path(site["public_key_file"]), base))
            resolved.append(site)
        out["sites"] = resolved
    return out


def format_validation_error(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{path}: {message}")
    return lines


def parse_settings(
    text: str, source: str = "<settings>", base_dir: Path | None = None
) -> HubSettings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(source, [f"not valid TOML: {exc}"]) from exc
    if base_dir is not None:
        data = _relative_paths(data, base_dir)
    try:
        return HubSettings.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise SettingsError(source, format_validation_error(exc)) from exc


def load_settings(path: Path) -> HubSettings:
    """Read and validate the TOML file at ``path``; raises ``SettingsError`` with every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(str(path), [f"cannot read: {exc.strerror or exc}"]) from exc
    return parse_settings(text, str(path), base_dir=path.resolve().parent)
