"""Plugs the billing room into the app: its API and pages, the entitlement
check on every request, the plan of each new company, and the periodic jobs.

New companies get their plan through identity's synchronous
`on_tenant_created` hook rather than the outbox's "tenant.created" event:
the outbox is relayed later by the worker, so for a while (or, without a
worker, for ever) a company would have no plan. The hook runs in the same
transaction as the company itself.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from .. import security
from .. import storage as file_storage
from ..api import api
from ..identity import services as identity
from ..web import NavItem, register_nav
from . import api as billing_api
from . import entitlements, jobs, services, usage, views  # noqa: F401 - jobs registers the periodic jobs


def init_app(app) -> None:
    api.register_blueprint(billing_api.blp)
    api.register_blueprint(billing_api.operator_blp)
    app.register_blueprint(views.bp)
    security.CSRF_EXEMPT_ENDPOINTS.update(views.CSRF_EXEMPT)
    entitlements.init_app(app)
    # The company's files count towards its storage, and a file that would
    # pass the plan's storage_gb is refused before it is stored.
    usage.register_storage("files", file_storage.stored_bytes)
    file_storage.quota_guard(entitlements.storage_guard)
    if services.start_subscription not in identity._tenant_created_hooks:
        identity.on_tenant_created(services.start_subscription)
    register_nav(NavItem("billing", _l("Plan and usage"), "billing.overview", billing_api.BILLING_READ,
                         section="admin", order=90))
