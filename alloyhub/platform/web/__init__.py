"""Server-rendered UI shell: base layout, navigation that modules plug into,
language choice and the tenant switcher."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l

from .. import permissions as perms
from ..auth import current_principal, requires

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/web")


@dataclass(frozen=True)
class NavItem:
    key: str
    label: object  # a lazy string, translated when rendered
    endpoint: str
    permission: str
    section: str = "main"
    order: int = 100


NAV: list[NavItem] = []


def register_nav(item: NavItem) -> None:
    """Modules add their pages to the navigation here."""
    NAV[:] = sorted([n for n in NAV if n.key != item.key] + [item], key=lambda n: (n.section, n.order, n.key))


def visible_nav(section: str = "main") -> list[NavItem]:
    principal = current_principal()
    if principal is None:
        return []
    return [n for n in NAV if n.section == section and principal.can(n.permission)]


@bp.app_context_processor
def _layout_context():
    return {"nav_items": visible_nav, "principal": current_principal(), "current_lang": g.get("lang", "en")}


@bp.route("/")
@requires(perms.PUBLIC)
def home():
    principal = current_principal()
    if principal is None:
        return render_template("landing.html")
    if principal.tenant_id is None:
        return redirect(url_for("identity.choose_tenant"))
    return render_template("home.html")


@bp.route("/lang/<code>", methods=["POST"])
@requires(perms.PUBLIC)
def set_language(code: str):
    from ..i18n import SUPPORTED

    if code in SUPPORTED:
        session["lang"] = code
    target = request.form.get("next") or request.referrer or url_for("web.home")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("web.home")
    return redirect(target)


register_nav(NavItem("home", _l("Overview"), "web.home", perms.AUTHENTICATED, order=0))
