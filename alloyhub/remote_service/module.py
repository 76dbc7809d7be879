"""Plugs the remote-service room into the app: API, pages, navigation, the
ledger's kind of object (an access grant), the demo data, and the plan's
module "remote_service"."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from alloyhub.platform.api import api
from alloyhub.platform.billing import entitlements
from alloyhub.platform.seed import register_demo_seeder
from alloyhub.platform.web import NavItem, register_nav

from . import api as remote_api
from . import demo, services, views
from .permissions import REMOTE_REQUEST

UPLOAD_ENDPOINTS = {"remote_service_api.RequestFiles", "remote_service.upload", "remote_service.new_request"}


def _upload_limit():
    """Files (photos, videos) may be larger than the app's usual request
    limit; set before anything (the CSRF check) reads the body."""
    from flask import request

    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = services.MAX_FILE_BYTES + 64 * 1024


def init_app(app) -> None:
    from .schemas import Rate

    api.register_field(Rate, "string", "decimal")
    if _upload_limit not in app.before_request_funcs.get(None, []):
        app.before_request_funcs.setdefault(None, []).insert(0, _upload_limit)
    api.register_blueprint(remote_api.blp)
    app.register_blueprint(views.bp)
    # Equipment and alarms pages link here only when this room is installed.
    app.add_template_global(views.service_request_link, "remote_service_link")
    # The plant's requests and, for an expert firm, its engagements: one page
    # (every built-in role with remote_service.diagnose has .request too).
    register_nav(NavItem("remote_service", _l("Remote experts"), "remote_service.index", REMOTE_REQUEST, order=75))
    entitlements.require_module(remote_api.blp, "remote_service")  # the plan decides (billing/plans.py)
    entitlements.require_module(views.bp, "remote_service")
    services.register_kind(_l("Remote expert access"))
    register_demo_seeder(demo.seed_demo)
