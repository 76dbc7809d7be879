"""AlloyHub: the application factory. A short list of init_app calls; nothing
at import time opens a connection or reads configuration."""
from __future__ import annotations

from flask import Flask

# Rooms, in dependency order: platform first, then tenant modules, then the
# cross-company services. Each exposes init_app(app).
MODULES = [
    "alloyhub.platform.identity.module",
    "alloyhub.platform.oauth.module",
    "alloyhub.platform.exports",
    "alloyhub.platform.billing.module",
    "alloyhub.platform.sharing.module",
    "alloyhub.tenants.agents.module",
    "alloyhub.tenants.telemetry.module",
    "alloyhub.tenants.alarms.module",
    "alloyhub.tenants.live.module",
    "alloyhub.tenants.equipment.module",
    "alloyhub.tenants.products.module",
    "alloyhub.tenants.orders.module",
    "alloyhub.tenants.inventory.module",
    "alloyhub.tenants.production.module",
    "alloyhub.tenants.scheduling.module",
    "alloyhub.spares.module",
    "alloyhub.remote_service.module",
]


def create_app(overrides: dict | None = None) -> Flask:
    from importlib import import_module

    from .platform import api as api_conventions
    from .platform import auth, config, errors, i18n, jobs, ratelimit, security, web
    from .platform.db import db

    app = Flask(__name__, static_folder=None)
    app.config.update(config.load(overrides))
    db.init_app(app)
    jobs.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    i18n.init_app(app)
    app.before_request(auth.load_principal)
    app.teardown_request(auth.clear_scope)
    ratelimit.init_app(app)
    app.before_request(api_conventions.idempotency_before_request)
    app.after_request(api_conventions.idempotency_after_request)
    api_conventions.api.init_app(app)
    app.register_blueprint(web.bp)
    for name in MODULES:
        import_module(name).init_app(app)
    return app
