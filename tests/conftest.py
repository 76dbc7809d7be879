"""Test fixtures. Real services only: the machine's own PostgreSQL, Redis and
MQTT broker when DATABASE_URL / REDIS_URL / MQTT_URL are set (CI), embedded
ones otherwise. Each test run gets a database of its own; each test makes its
own tenants, so the suite always runs with many tenants present."""
from __future__ import annotations

import os
import threading
import secrets
import uuid

import pytest
from werkzeug.serving import make_server

from tests import factories


def _server_urls() -> dict:
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        return {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"],
                "MQTT_URL": os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883")}
    from alloyhub.platform import embedded

    return embedded.start_for_tests()


@pytest.fixture(scope="session")
def service_urls():
    return _server_urls()


@pytest.fixture(scope="session")
def database_url(service_urls):
    """A fresh database for this run, migrated to head, dropped at the end."""
    from alloyhub.platform import migrate

    with migrate.temporary_database(service_urls["DATABASE_URL"], "alloyhub_test") as url:
        yield url


@pytest.fixture(scope="session")
def app(database_url, service_urls):
    from alloyhub import create_app

    application = create_app({
        "TESTING": True,
        "DATABASE_URL": database_url,
        "DATABASE_APP_URL": _app_url(database_url),
        "REDIS_URL": service_urls["REDIS_URL"],
        "MQTT_URL": service_urls["MQTT_URL"],
        "SECRET_KEY": "test-" + secrets.token_hex(16),
        "BASE_URL": "http://localhost",
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
    })
    return application


def _app_url(owner_url: str) -> str:
    from alloyhub.platform.config import app_database_url

    return app_database_url(owner_url, password="alloyhub-app")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_client(app):
    """More than one browser at once (two people, two tenants)."""
    return app.test_client


@pytest.fixture
def owner_engine(database_url):
    """A connection as the database owner, for tests that inspect the database itself."""
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def tenant_factory(app):
    return factories.TenantFactory(app)


@pytest.fixture
def api(client):
    return factories.ApiClient(client)


# ---------------------------------------------------------------- browser tests
# The app served on a real socket, driven by Debian's Chromium through
# Playwright. Here, not in tests/browser/, so every folder shares the one
# session-wide browser: two sync Playwright sessions cannot run at once.
# Playwright never downloads a browser here; `make chromium` installs the system one.

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def live_server(app):
    """The `app` fixture's application (same database, Redis and config) on a
    free port of 127.0.0.1, served from a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs it (`make chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser):
    """A fresh browser profile (cookies of its own) per call; closed after the test."""
    contexts = []

    def make(**kwargs):
        kwargs.setdefault("viewport", {"width": 1280, "height": 800})
        kwargs.setdefault("locale", "en-GB")
        context = browser.new_context(**kwargs)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
