"""``[evidence_store]`` in the hub's settings: filesystem by default, S3 checked field by field,
paths relative to the settings file, and the credentials file read (and refused) with care."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.settings import SettingsError, load_settings, parse_settings
from hub.storage.evidence.backends import open_evidence_store
from hub.storage.evidence.settings import (
    CredentialsError,
    FilesystemStoreSettings,
    S3StoreSettings,
    read_credentials,
    write_credentials,
)
from hub.storage.evidence.store import FilesystemEvidenceStore
from tests.support.paths import REPO

MINIMAL = 'hub_id = "hub-1"\ndata_dir = "data"\n'
S3 = '[evidence_store]\nbackend = "s3"\nbucket = "council-evidence"\n'


def test_the_filesystem_store_is_the_default(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(MINIMAL, encoding="utf-8")
    settings = load_settings(config)
    assert settings.evidence_store == FilesystemStoreSettings()
    store = open_evidence_store(settings)
    assert isinstance(store, FilesystemEvidenceStore) and store.root == settings.evidence_dir


def test_s3_settings_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    write_credentials(tmp_path / "s3-credentials", "AKIDEXAMPLE", "example-secret-key")
    config = tmp_path / "hub.toml"
    config.write_text(
        MINIMAL
        + S3
        + 'endpoint_url = "https://s3.example.org:9000"\ncredentials_file = "s3-credentials"\n'
        + 'object_lock_mode = "compliance"\nobject_lock_days = 2557\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    store = settings.evidence_store
    assert isinstance(store, S3StoreSettings)
    assert store.credentials_file == tmp_path / "s3-credentials"
    assert (store.prefix, store.addressing_style, store.part_bytes) == (
        "evidence/",
        "path",
        16 * 1024**2,
    )
    settings.check_files()
    assert store.load_credentials().access_key_id == "AKIDEXAMPLE"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("", "evidence_store.s3.credentials_file: Field required"),
        ('credentials_file = "c"\nobject_lock_mode = "compliance"\n', "needs object_lock_days"),
        ('credentials_file = "c"\nobject_lock_days = 30\n', "needs object_lock_mode"),
        ('credentials_file = "c"\nendpoint_url = "http://s3.lan:8333"\n', "unencrypted"),
        ('credentials_file = "c"\nendpoint_url = "https://k:s@s3.lan"\n', "credentials"),
        ('credentials_file = "c"\nprefix = "../up/"\n', "evidence_store.s3.prefix"),
        ('credentials_file = "c"\npart_size_mb = 4\n', "evidence_store.s3.part_size_mb"),
        ('credentials_file = "c"\nobject_lock_mode = "forever"\n', "object_lock_mode"),
    ],
)
def test_s3_settings_that_cannot_be_used(extra: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(MINIMAL + S3 + extra, "hub.toml")
    assert any(message in error for error in caught.value.errors), caught.value.errors


def test_bad_buckets_and_backends_are_refused() -> None:
    for text in (
        '[evidence_store]\nbackend = "s3"\nbucket = "Bad_Bucket"\ncredentials_file = "c"\n',
        '[evidence_store]\nbackend = "tape"\n',
        '[evidence_store]\nbackend = "filesystem"\nbucket = "b"\n',
    ):
        with pytest.raises(SettingsError, match="evidence_store"):
            parse_settings(MINIMAL + text, "hub.toml")


def test_plain_http_on_loopback_or_when_allowed(tmp_path: Path) -> None:
    for endpoint, allowed in [
        ("http://127.0.0.1:8333", False),
        ("http://localhost:8333", False),
        ("http://[::1]:8333", False),
        ("http://s3.lan:8333", True),
    ]:
        text = f'{S3}credentials_file = "c"\nendpoint_url = "{endpoint}"\n'
        if allowed:
            text += "allow_plain_http = true\n"
        parse_settings(MINIMAL + text, "hub.toml")


def test_the_credentials_file_is_checked_at_start(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(MINIMAL + S3 + 'credentials_file = "missing"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"evidence_store\.credentials_file: cannot read"):
        load_settings(config).check_files()
    path = tmp_path / "creds"
    for text, message in [
        ("[other]\naws_access_key_id = a\naws_secret_access_key = b\n", "no \\[default\\]"),
        ("[default]\naws_access_key_id = a\n", "lacks aws_secret_access_key"),
        ("not an ini file", "cannot read .* as an AWS credentials file"),
    ]:
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        with pytest.raises(CredentialsError, match=message):
            read_credentials(path, "default")
    path.write_text(
        "[hub]\naws_access_key_id = a\naws_secret_access_key = s3cret-value\n"
        "aws_session_token = t0ken-value\n",
        encoding="utf-8",
    )
    path.chmod(0o640)  # the hub's group may read it
    credentials = read_credentials(path, "hub")
    assert credentials.session_token is not None
    assert credentials.session_token.get_secret_value() == "t0ken-value"
    assert credentials.secret_access_key.get_secret_value() == "s3cret-value"
    assert "s3cret" not in repr(credentials) and "t0ken" not in repr(credentials)


def test_the_deploy_example_parses_as_filesystem_and_with_its_s3_lines_uncommented() -> None:
    example = REPO / "deploy" / "hub.example.toml"
    text = example.read_text(encoding="utf-8")
    assert parse_settings(text, "example").evidence_store == FilesystemStoreSettings()
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("["):
            inside = line == "[evidence_store]"
        elif inside and line.startswith('backend = "filesystem"'):
            continue
        elif inside and re.match(r"^# [a-z_]+ = ", line):
            line = line[2:]
        lines.append(line)
    store = parse_settings("\n".join(lines), "example").evidence_store
    assert isinstance(store, S3StoreSettings)
    assert (store.bucket, store.object_lock_mode, store.object_lock_days) == (
        "council-evidence",
        "compliance",
        2557,
    )
