"""Every setting, read once from the environment, typed and validated.

``load_settings`` is the only place that reads ``os.environ``. Production (``CONNECTOR_ENV``
set to ``production``) refuses to start while a secret is missing; development and tests
generate throwaway secrets into ``<instance>/dev-secrets.json`` (so the web process, the
worker and the CLI agree on them) and say so once, when the file is created.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from cryptography.fernet import Fernet

log = logging.getLogger(__name__)

ENVIRONMENTS = ("development", "test", "production")
SECRET_NAMES = ("SECRET_KEY", "ENCRYPTION_KEY", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")
PRODUCTION_REQUIRED = SECRET_NAMES + ("DATABASE_URL", "REDIS_URL", "APP_URL")
SANDBOX_DEFAULT_URL = "http://127.0.0.1:8025"


class ConfigError(RuntimeError):
    """The environment does not describe a runnable connector; the message says what to set."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The connector's configuration. Field names mirror the environment variables."""

    env: str
    database_url: str
    redis_url: str | None
    secret_key: str
    encryption_keys: tuple[str, ...]
    app_url: str
    whatsapp_app_secret: str
    whatsapp_verify_token: str
    whatsapp_api_base_url: str
    #: the Meta app's id: Resumable Upload sessions (template sample media) hang off it
    whatsapp_app_id: str | None = None
    shopify_api_key: str | None = None
    shopify_api_secret: str | None = None
    shopify_scopes: str = ("read_orders,write_orders,read_fulfillments,read_products,read_inventory,"
                           "read_customers,write_discounts")
    #: dev and tests only: send every shop's Admin API and OAuth calls here (a fake Shopify)
    shopify_admin_base_url: str | None = None
    #: largest webhook body accepted, in bytes (Meta batches up to 1,000 updates per POST)
    max_webhook_bytes: int = 3 * 1024 * 1024
    #: proxies in front of the web process whose X-Forwarded-For / -Proto hop is believed (0: none)
    trusted_proxy_count: int = 0
    #: how long a claimed message may stay "sending" before the sweep treats it as in doubt
    send_lease_seconds: int = 120
    #: a dispatcher's lock on its shop lapses this long after its worker dies
    dispatch_lock_seconds: int = 15
    #: how often the periodic sweep runs (re-kicks due work, re-queues lost jobs)
    sweep_interval_seconds: int = 30
    #: a webhook receipt not processed after this long is enqueued again by the sweep
    receipt_retry_seconds: int = 120
    #: first retry delay of a retryable send failure; doubles per attempt
    retry_base_seconds: float = 2.0
    log_level: str = "INFO"
    #: the bearer token GET /metrics asks for; unset: /metrics answers 404
    metrics_token: str | None = None
    #: WooCommerce stores on loopback addresses may be called (dev and tests: the fake store);
    #: ALLOW_LOOPBACK_STORES, on by default outside production and refused in production
    allow_loopback_stores: bool = False

    @property
    def is_production(self) -> bool:
        return self.env == "production"


_INT_FIELDS = {
    "MAX_WEBHOOK_BYTES": "max_webhook_bytes",
    "SEND_LEASE_SECONDS": "send_lease_seconds",
    "DISPATCH_LOCK_SECONDS": "dispatch_lock_seconds",
    "SWEEP_INTERVAL_SECONDS": "sweep_interval_seconds",
    "RECEIPT_RETRY_SECONDS": "receipt_retry_seconds",
}


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    overrides: Mapping[str, object] | None = None,
    instance_path: str | os.PathLike[str] = "instance",
) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``) plus ``overrides``.

    ``overrides`` use the environment variable names (``{"DATABASE_URL": ...}``), so tests
    and the CLI speak the same language as operators.
    """
    source: dict[str, object] = dict(os.environ if environ is None else environ)
    source.update(overrides or {})
    value = lambda name: (str(source[name]).strip() or None) if source.get(name) is not None else None  # noqa: E731

    env = (value("CONNECTOR_ENV") or "development").lower()
    if env not in ENVIRONMENTS:
        raise ConfigError(f"CONNECTOR_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")

    instance = Path(instance_path)
    if env == "production":
        missing = [name for name in PRODUCTION_REQUIRED if not value(name)]
        if missing:
            raise ConfigError("production needs these environment variables: " + ", ".join(missing))
        generated: dict[str, str] = {}
    else:
        generated = _dev_secrets(instance, {name: value(name) for name in SECRET_NAMES})

    secret = lambda name: value(name) or generated[name]  # noqa: E731
    database_url = value("DATABASE_URL") or f"sqlite:///{(instance / 'connector.db').resolve()}"
    default_api = "https://graph.facebook.com" if env == "production" else SANDBOX_DEFAULT_URL

    settings = Settings(
        env=env,
        database_url=_normalise_database_url(database_url),
        redis_url=value("REDIS_URL"),
        secret_key=secret("SECRET_KEY"),
        encryption_keys=_parse_encryption_keys(secret("ENCRYPTION_KEY")),
        app_url=(value("APP_URL") or "http://127.0.0.1:5000").rstrip("/"),
        whatsapp_app_secret=secret("WHATSAPP_APP_SECRET"),
        whatsapp_verify_token=secret("WHATSAPP_VERIFY_TOKEN"),
        whatsapp_api_base_url=(value("WHATSAPP_API_BASE_URL") or default_api).rstrip("/"),
        whatsapp_app_id=value("WHATSAPP_APP_ID"),
        shopify_api_key=value("SHOPIFY_API_KEY"),
        shopify_api_secret=value("SHOPIFY_API_SECRET"),
        shopify_admin_base_url=(value("SHOPIFY_ADMIN_BASE_URL") or "").rstrip("/") or None,
        log_level=(value("LOG_LEVEL") or "INFO").upper(),
        metrics_token=value("METRICS_TOKEN"),
    )
    if settings.metrics_token is not None and len(settings.metrics_token) < 16:
        raise ConfigError("METRICS_TOKEN must be at least 16 characters (make one with: openssl rand -hex 32)")
    if env == "production" and settings.shopify_admin_base_url:
        raise ConfigError("SHOPIFY_ADMIN_BASE_URL is for development and tests; unset it in production")
    if hops := value("TRUSTED_PROXY_COUNT"):
        if not (hops.isascii() and hops.isdigit()):
            raise ConfigError(f"TRUSTED_PROXY_COUNT must be a whole number of proxies (0 or more), not {hops!r}")
        settings = replace(settings, trusted_proxy_count=int(hops))
    if scopes := value("SHOPIFY_SCOPES"):
        settings = replace(settings, shopify_scopes=scopes)
    for env_name, field_name in _INT_FIELDS.items():
        raw = value(env_name)
        if raw is None:
            continue
        try:
            number = int(raw)
        except ValueError:
            raise ConfigError(f"{env_name} must be a whole number, not {raw!r}") from None
        if number <= 0:
            raise ConfigError(f"{env_name} must be positive, not {number}")
        change: dict[str, Any] = {field_name: number}
        settings = replace(settings, **change)
    if raw_seconds := value("RETRY_BASE_SECONDS"):
        try:
            seconds = float(raw_seconds)
        except ValueError:
            raise ConfigError("RETRY_BASE_SECONDS must be a number of seconds") from None
        if not seconds > 0:  # also refuses nan
            raise ConfigError(f"RETRY_BASE_SECONDS must be positive, not {seconds}")
        settings = replace(settings, retry_base_seconds=seconds)
    loopback = (value("ALLOW_LOOPBACK_STORES") or ("0" if env == "production" else "1")).lower()
    if loopback not in ("1", "true", "yes", "0", "false", "no"):
        raise ConfigError(f"ALLOW_LOOPBACK_STORES must be 1 or 0, not {loopback!r}")
    if env == "production" and loopback in ("1", "true", "yes"):
        raise ConfigError("ALLOW_LOOPBACK_STORES is for development and tests; unset it in production")
    return replace(settings, allow_loopback_stores=loopback in ("1", "true", "yes"))


def flask_config(settings: Settings) -> dict[str, object]:
    """The Flask and extension settings derived from ours."""
    engine_options: dict[str, object] = {"pool_pre_ping": True}
    if settings.database_url.startswith("sqlite"):
        # several processes (web, worker, CLI) share the file: wait for locks instead of failing
        engine_options = {"connect_args": {"timeout": 30}}
    return {
        "SECRET_KEY": settings.secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "MAX_CONTENT_LENGTH": settings.max_webhook_bytes,
        "CONNECTOR": settings,
    }


def _normalise_database_url(url: str) -> str:
    # Heroku-style and plain postgres URLs select psycopg 3, the driver we install.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _parse_encryption_keys(raw: str) -> tuple[str, ...]:
    """``ENCRYPTION_KEY`` is one Fernet key or several, comma-separated, newest first."""
    keys = tuple(part.strip() for part in raw.split(",") if part.strip())
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                "ENCRYPTION_KEY must be Fernet keys (32 url-safe base64-encoded bytes), comma-separated;"
                " make one with:"
                " python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from None
    if not keys:
        raise ConfigError("ENCRYPTION_KEY is empty")
    return keys


def _dev_secrets(instance: Path, given: dict[str, str | None]) -> dict[str, str]:
    """Throwaway secrets for development, kept in the instance folder so processes agree."""
    path = instance / "dev-secrets.json"
    try:
        stored = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        stored = {}
    wanted = {name for name, v in given.items() if not v}
    if wanted - stored.keys():
        for name in wanted - stored.keys():
            stored[name] = Fernet.generate_key().decode() if name == "ENCRYPTION_KEY" else secrets.token_urlsafe(32)
        instance.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps(stored, indent=2))
        tmp.replace(path)
        # said once, when made; logging is not configured yet at this point of start-up
        print(f"connector: generated throwaway development secrets in {path} (never use them in production)",
              file=sys.stderr)
    return stored


def setting_names() -> list[str]:
    """Names of the settings, for documentation and error messages."""
    return [f.name for f in fields(Settings)]
