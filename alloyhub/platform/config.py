"""Configuration from the environment, with embedded-mode defaults.

Nothing here opens a connection; `create_app` reads these values once.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

APP_DB_ROLE = "alloyhub_app"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def app_database_url(owner_url: str, role: str = APP_DB_ROLE, password: str | None = None) -> str:
    """The URL the web and worker processes use: same server, but the
    unprivileged role that owns no table, so row-level security applies."""
    parts = urlsplit(owner_url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    auth = role if password is None else f"{role}:{password}"
    netloc = f"{auth}@{host}" if host else f"{auth}@"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def load(overrides: dict | None = None) -> dict:
    var_dir = Path(_env("ALLOYHUB_VAR_DIR", str(Path.cwd() / "var")))
    database_url = _env("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/alloyhub")
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    app_password = _env("APP_DB_PASSWORD", "alloyhub-app")
    cfg = {
        "SECRET_KEY": _env("SECRET_KEY") or _persistent_secret(var_dir),
        "DATABASE_URL": database_url,
        "DATABASE_APP_URL": _env("DATABASE_APP_URL") or app_database_url(database_url, password=app_password),
        "APP_DB_PASSWORD": app_password,
        "REDIS_URL": _env("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "MQTT_URL": _env("MQTT_URL", "mqtt://127.0.0.1:1883"),
        # Broker access control (Mosquitto dynamic security): the dynsec admin,
        # as a URL with credentials or as separate settings; unset = off.
        "MQTT_ADMIN_URL": _env("MQTT_ADMIN_URL"),
        "MQTT_ADMIN_USERNAME": _env("MQTT_ADMIN_USERNAME"),
        "MQTT_ADMIN_PASSWORD": _env("MQTT_ADMIN_PASSWORD"),
        # The platform's own broker client (ingest, down-link) when access control is on.
        "MQTT_SERVICE_USERNAME": _env("MQTT_SERVICE_USERNAME", "alloyhub-ingest"),
        "MQTT_SERVICE_PASSWORD": _env("MQTT_SERVICE_PASSWORD"),
        # What enrolled agents are told to connect to (and the CA they should trust).
        "MQTT_PUBLIC_URL": _env("MQTT_PUBLIC_URL"),
        "MQTT_CA_FILE": _env("MQTT_CA_FILE"),
        "BASE_URL": _env("BASE_URL", "http://127.0.0.1:5000"),
        "MAIL_SERVER": _env("MAIL_SERVER"),
        "MAIL_PORT": int(_env("MAIL_PORT", "25")),
        "MAIL_USERNAME": _env("MAIL_USERNAME"),
        "MAIL_PASSWORD": _env("MAIL_PASSWORD"),
        "MAIL_USE_TLS": _env("MAIL_USE_TLS", "0") == "1",
        "MAIL_FROM": _env("MAIL_FROM", "AlloyHub <no-reply@alloyhub.local>"),
        "RATE_LIMIT_PER_TENANT": _env("RATE_LIMIT_PER_TENANT", "600 per minute"),
        "RATE_LIMIT_PER_TOKEN": _env("RATE_LIMIT_PER_TOKEN", "300 per minute"),
        # Per-tenant API rate from the company's plan (api_rate_per_minute); off: RATE_LIMIT_PER_TENANT for all.
        "RATE_LIMIT_FROM_PLAN": _env("RATE_LIMIT_FROM_PLAN", "1") == "1",
        "MAX_CONTENT_LENGTH": int(_env("MAX_CONTENT_LENGTH", str(1024 * 1024))),
        "ALLOYHUB_VAR_DIR": str(var_dir),
        "OIDC_KEY_FILE": _env("OIDC_KEY_FILE", str(var_dir / "oidc-signing-key.pem")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _env("SESSION_COOKIE_SECURE", "0") == "1",
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "en",
        "LANGUAGES": ["en", "zh_CN"],
        "API_TITLE": "AlloyHub API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": "/static/web/vendor/swagger-ui/",  # vendored: /api/docs works offline
        "ALLOW_INSECURE_OIDC": _env("ALLOW_INSECURE_OIDC", "0") == "1",
        # Billing: off (plans assigned by the operator) unless STRIPE_API_KEY is set.
        "STRIPE_API_KEY": _env("STRIPE_API_KEY"),
        "STRIPE_WEBHOOK_SECRET": _env("STRIPE_WEBHOOK_SECRET"),
        "STRIPE_API_BASE": _env("STRIPE_API_BASE", "https://api.stripe.com"),
        "BILLING_GRACE_DAYS": int(_env("BILLING_GRACE_DAYS", "14")),
        "BILLING_CURRENCY": _env("BILLING_CURRENCY", "cny"),
        # Search: PostgreSQL unless an Elasticsearch URL is given.
        "ELASTICSEARCH_URL": _env("ELASTICSEARCH_URL"),
        "ELASTICSEARCH_INDEX_PREFIX": _env("ELASTICSEARCH_INDEX_PREFIX", "alloyhub-"),
        # File storage: a local directory unless an S3 bucket is given.
        "S3_BUCKET": _env("S3_BUCKET"),
        "S3_ENDPOINT_URL": _env("S3_ENDPOINT_URL"),
        "S3_REGION": _env("S3_REGION", "us-east-1"),
        "STORAGE_DIR": _env("STORAGE_DIR", str(var_dir / "files")),
    }
    if overrides:
        cfg.update(overrides)
    return cfg


def _persistent_secret(var_dir: Path) -> str:
    """A secret key that survives restarts in embedded mode, so sessions do too."""
    path = var_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key
