"""Hub settings from TOML: every problem with its path, relative paths resolved, secrets hidden."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.signing import public_key_pem
from hub.services.passwords import InvalidPasswordHash, hash_password, parse_hash, verify_password
from hub.settings import SettingsError, load_settings, parse_settings

MINIMAL = 'hub_id = "hub-1"\ndata_dir = "data"\n'


def test_minimal_settings_have_defaults_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(MINIMAL, encoding="utf-8")
    settings = load_settings(config)
    assert settings.data_dir == tmp_path / "data"
    assert settings.db_path == tmp_path / "data" / "hub.db"
    assert settings.broker is None
    assert settings.ingest.max_clip_bytes == 8 * 1024**3
    assert settings.http.port == 8080


def test_every_error_is_reported_with_its_path() -> None:
    text = (
        MINIMAL + "[http]\nport = 70000\nbogus = 1\n[broker]\npassword = 'x'\npassword_file = 'f'\n"
    )
    with pytest.raises(SettingsError) as caught:
        parse_settings(text, "hub.toml")
    errors = caught.value.errors
    assert any(e.startswith("http.port:") for e in errors)
    assert any(e.startswith("http.bogus:") and "Extra inputs" in e for e in errors)
    assert any(e.startswith("broker:") and "not both" in e for e in errors)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not valid TOML"):
        parse_settings("hub_id = ", "x.toml")
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")


def test_sites_need_exactly_one_valid_key_and_unique_ids(tmp_path: Path) -> None:
    pem = public_key_pem(Ed25519PrivateKey.generate())
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "b.pem").write_text(pem, encoding="ascii")
    config = tmp_path / "hub.toml"
    config.write_text(
        MINIMAL
        + f'[[sites]]\nsite_id = "a"\npublic_key_pem = """{pem}"""\n'
        + '[[sites]]\nsite_id = "b"\npublic_key_file = "keys/b.pem"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.sites[1].resolved_public_key_pem() == pem
    for bad, message in [
        ('[[sites]]\nsite_id = "a"\n', "exactly one"),
        ('[[sites]]\nsite_id = "a/b"\npublic_key_pem = "x"\n', "site id"),
        ('[[sites]]\nsite_id = "a"\npublic_key_pem = "not a key"\n', "PEM"),
        (f'[[sites]]\nsite_id = "a"\npublic_key_pem = """{pem}"""\n' * 2, "given twice"),
    ]:
        with pytest.raises(SettingsError, match=message):
            parse_settings(MINIMAL + bad)


def test_users_need_a_known_role_and_a_hash_not_a_password() -> None:
    good = hash_password("pw", n=2**10)
    parse_settings(
        MINIMAL + f'[[users]]\nusername = "pc-1"\nrole = "police"\npassword_hash = "{good}"\n'
    )
    with pytest.raises(SettingsError, match=r"users\.0\.role"):
        parse_settings(
            MINIMAL + f'[[users]]\nusername = "x"\nrole = "chief"\npassword_hash = "{good}"\n'
        )
    with pytest.raises(SettingsError, match=r"users\.0\.password_hash"):
        parse_settings(
            MINIMAL + '[[users]]\nusername = "x"\nrole = "police"\npassword_hash = "hunter2"\n'
        )


def test_the_broker_password_never_shows_in_repr_and_may_come_from_a_file(tmp_path: Path) -> None:
    settings = parse_settings(MINIMAL + "[broker]\npassword = 'sekrit-123'\n")
    assert settings.broker is not None
    assert "sekrit-123" not in repr(settings)
    assert settings.broker.resolved_password() == "sekrit-123"
    (tmp_path / "pw").write_text("from-file\n", encoding="utf-8")
    config = tmp_path / "hub.toml"
    config.write_text(MINIMAL + "[broker]\npassword_file = 'pw'\n", encoding="utf-8")
    broker = load_settings(config).broker
    assert broker is not None and broker.resolved_password() == "from-file"


def test_password_hashes_verify_and_carry_their_parameters() -> None:
    encoded = hash_password("correct horse", n=2**10)
    assert encoded.startswith("scrypt$1024$8$1$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("wrong horse", encoded)
    assert not verify_password("", encoded)
    assert hash_password("correct horse", n=2**10) != encoded  # salted
    assert parse_hash(encoded)[0] == 1024
    for bad in [
        "bcrypt$x",
        "scrypt$3$8$1$AAAA$AAAA",
        "scrypt$1024$8$1$!!$AAAA",
        "scrypt$4194304$8$1$AAAAAAAAAAA=$" + "A" * 44,
    ]:
        with pytest.raises(InvalidPasswordHash):
            verify_password("x", bad)
