"""Plugs the spare-parts room into the app: API, pages, navigation, the
ledger's kind of object, the search index, and the plan's module "spares"."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from alloyhub.platform.api import api
from alloyhub.platform.seed import register_demo_seeder
from alloyhub.platform.billing import entitlements
from alloyhub.platform.web import NavItem, register_nav

from . import api as spares_api
from . import demo, index, listings, payments, views, wanted  # noqa: F401 - payments registers its webhook handler
from .permissions import SPARES_READ


UPLOAD_ENDPOINTS = {"spares_api.PartAttachments", "spares.upload_attachment"}


def _upload_limit():
    """Attachments may be larger than the app's usual request limit; set
    before anything (the CSRF check) reads the body."""
    from flask import request

    from .attachments import MAX_BYTES

    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = MAX_BYTES + 64 * 1024


def init_app(app) -> None:
    from .schemas import Money

    api.register_field(Money, "string", "decimal")
    if _upload_limit not in app.before_request_funcs.get(None, []):
        app.before_request_funcs.setdefault(None, []).insert(0, _upload_limit)
    api.register_blueprint(spares_api.blp)
    app.register_blueprint(views.bp)
    register_nav(NavItem("spares", _l("Spare parts"), "spares.stock_list", SPARES_READ, order=70))
    entitlements.require_module(spares_api.blp, "spares")  # the plan decides (billing/plans.py)
    entitlements.require_module(views.bp, "spares")
    listings.register_kind(_l("Spare part"))
    wanted.register_kind(_l("Wanted post"))
    register_demo_seeder(demo.seed_demo)
    index.register()
