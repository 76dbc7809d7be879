"""Pages of the spare-parts room: the stock (with import and below-minimum
alerts), a part (edit, stock moves, sharing decision and terms, alternates,
attachments), the industry catalogue with facets, a listing, requests
between companies, "wanted" posts and site locations.

Views parse forms, call services and render; a service error becomes an
inline form error or a flash message.
"""
from __future__ import annotations

import math
import uuid
from decimal import Decimal, InvalidOperation

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from alloyhub.platform.auth import current_principal, requires
from alloyhub.platform.db import db, get_or_404
from alloyhub.platform.errors import AppError
from alloyhub.platform.identity.models import Site
from alloyhub.platform.sharing import services as sharing

from . import catalogue, listings, stock
from .index import FACETS
from .messages import LABELS
from .models import CONDITIONS, SparePart, SpareStockMove
from .permissions import SPARES_READ, SPARES_SHARE, SPARES_TRADE, SPARES_WRITE

bp = Blueprint("spares", __name__, template_folder="templates")


@bp.app_template_filter("spares_label")
def spares_label(value) -> str:
    return str(LABELS.get(value, value if value is not None else ""))


@bp.app_template_filter("money")
def money(value) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f}"


@bp.app_template_filter("duration")
def duration(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 3600:
        return _("%(n)d min", n=max(1, round(seconds / 60)))
    if seconds < 86400 * 2:
        return _("%(n).1f h", n=seconds / 3600)
    return _("%(n).1f days", n=seconds / 86400)


def _can(permission: str) -> bool:
    principal = current_principal()
    return bool(principal and principal.can(permission))


def _fail(exc: AppError) -> None:
    db.session.rollback()
    for message in [m for msgs in (exc.errors or {}).values() for m in msgs] or [exc.detail]:
        flash(_(str(message)), "error")


def _uuid_arg(value):
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        abort(400)


# ---------------------------------------------------------------- form parsing

def _int(form, name, errors, *, default=None):
    raw = (form.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value != int(value):
        errors.setdefault(name, []).append("Enter a whole number.")
        return default
    return int(value)


def _float(form, name, errors):
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        errors.setdefault(name, []).append("Enter a number.")
        return None
    return value


def _money(form, name, errors):
    raw = (form.get(name) or "").strip().replace(",", "")
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        errors.setdefault(name, []).append("Enter a price, zero or more.")
        return None
    return value.quantize(Decimal("0.01"))


def _text(form, name):
    value = (form.get(name) or "").strip()
    return value or None


def _part_fields(form) -> tuple[dict, dict]:
    errors: dict[str, list[str]] = {}
    site_id = form.get("site_id") or None
    try:
        site_id = uuid.UUID(site_id) if site_id else None
    except ValueError:
        errors["site_id"] = ["No such site."]
        site_id = None
    data = {
        "site_id": site_id, "part_number": form.get("part_number", ""), "manufacturer": _text(form, "manufacturer"),
        "manufacturer_part_number": _text(form, "manufacturer_part_number"),
        "description": form.get("description", ""), "category": _text(form, "category"),
        "equipment_models": form.get("equipment_models", ""), "dimensions": _text(form, "dimensions"),
        "condition": form.get("condition") or "new", "location": _text(form, "location"),
        "min_stock": _int(form, "min_stock", errors, default=0), "unit_price": _money(form, "unit_price", errors),
        "currency": (form.get("currency") or "CNY").strip().upper(), "notes": _text(form, "notes"),
    }
    quantity = _int(form, "quantity", errors)
    if quantity is not None:
        data["quantity"] = quantity
    return data, errors


# ---------------------------------------------------------------- the stock

def _stock_page(errors=None, form=None, status=200, import_errors=None):
    args = request.args
    condition = args.get("condition") if args.get("condition") in CONDITIONS else None
    below_min = args.get("below_min") == "1"
    stmt = stock.parts_query(args.get("q") or None, args.get("category") or None, condition, None, below_min)
    parts = list(db.session.scalars(stmt.order_by(SparePart.part_number, SparePart.id).limit(500)))
    decisions = _decisions(parts)
    below = list(db.session.scalars(stock.parts_query(below_min=True).order_by(SparePart.part_number).limit(50)))
    html = render_template("spares/stock.html", parts=parts, decisions=decisions, below=below,
                           categories=stock.categories(), conditions=CONDITIONS, sites=stock.sites(),
                           filters={"q": args.get("q", ""), "category": args.get("category", ""),
                                    "condition": condition, "below_min": below_min},
                           errors=errors or {}, form=form or {}, import_errors=import_errors or {},
                           can_write=_can(SPARES_WRITE), can_share=_can(SPARES_SHARE))
    return html, status


def _decisions(parts) -> dict:
    """Visibility per part, from the ledger, in one query."""
    from alloyhub.platform.sharing.models import SUBSCRIBERS, Share

    from .models import PART_KIND

    ids = [p.id for p in parts]
    if not ids:
        return {}
    found: dict = {}
    for share in db.session.scalars(sharing.shares_query("in_force", PART_KIND).where(Share.object_id.in_(ids))):
        current = found.get(share.object_id, "none")
        kind = "subscribers" if share.grantee_key == SUBSCRIBERS else (
            "alliances" if share.grantee_kind == "alliance" else "companies")
        order = ("none", "companies", "alliances", "subscribers")
        found[share.object_id] = max(current, kind, key=order.index)
    return found


@bp.get("/spares")
@requires(SPARES_READ)
def stock_list():
    return _stock_page()


@bp.route("/spares/parts/new", methods=["GET", "POST"])
@requires(SPARES_WRITE)
def new_part():
    errors, form = {}, {}
    if request.method == "POST":
        data, errors = _part_fields(request.form)
        form = request.form
        if not errors:
            try:
                part = stock.create_part(**data)
            except AppError as exc:
                db.session.rollback()
                errors = exc.errors or {"__all__": [exc.detail]}
            else:
                flash(_("The part %(number)s is added.", number=part.part_number), "success")
                return redirect(url_for("spares.part_detail", part_id=part.id))
    return render_template("spares/part_form.html", part=None, form=form, errors=errors, sites=stock.sites(),
                           conditions=CONDITIONS), 422 if errors else 200


@bp.post("/spares/import")
@requires(SPARES_WRITE)
def import_parts():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _stock_page(import_errors={"file": ["Upload a .csv or .xlsx file."]}, status=422)
    try:
        result = stock.import_file(upload.filename, upload.read())
    except AppError as exc:
        db.session.rollback()
        return _stock_page(import_errors=exc.errors or {"file": [exc.detail]}, status=422)
    flash(_("Imported: %(created)d parts added, %(updated)d updated.", **result), "success")
    return redirect(url_for("spares.stock_list"))


def _part_page(part, errors=None, form=None, status=200, listing_errors=None, listing_form=None):
    listing = listings.listing_of(part)
    decision = listings.decision(part)
    moves = list(db.session.scalars(stock.moves_query(part).order_by(SpareStockMove.at.desc(), SpareStockMove.id)
                                    .limit(100)))
    from .models import SpareAlternate, SpareAttachment

    alternates = list(db.session.scalars(select(SpareAlternate).where(SpareAlternate.part_id == part.id)
                                         .order_by(SpareAlternate.created_at)))
    attachments = list(db.session.scalars(select(SpareAttachment).where(SpareAttachment.part_id == part.id)
                                          .order_by(SpareAttachment.created_at)))
    matches = catalogue.matches_for(part) if part.quantity < part.min_stock else []
    html = render_template(
        "spares/part.html", part=part, listing=listing, decision=decision, moves=moves, alternates=alternates,
        attachments=attachments, matches=matches, alliances=sharing.alliances_of(),
        reserved=listings.reserved_of(part.id), sites=stock.sites(), conditions=CONDITIONS,
        site_names={s.id: f"{s.code} {s.name}" for s in stock.sites()},
        people=sharing.user_names(m.user_id for m in moves),
        errors=errors or {}, form=form, listing_errors=listing_errors or {}, listing_form=listing_form,
        can_write=_can(SPARES_WRITE), can_share=_can(SPARES_SHARE), can_trade=_can(SPARES_TRADE))
    return html, status


@bp.route("/spares/parts/<uuid:part_id>", methods=["GET", "POST"])
@requires(SPARES_READ)
def part_detail(part_id):
    part = stock.get_part(part_id)
    if request.method == "GET":
        return _part_page(part)
    if not _can(SPARES_WRITE):
        abort(403)
    data, errors = _part_fields(request.form)
    if not errors:
        try:
            stock.update_part(part, **data)
        except AppError as exc:
            db.session.rollback()
            errors = exc.errors or {"__all__": [exc.detail]}
        else:
            flash(_("The part %(number)s is saved.", number=part.part_number), "success")
            return redirect(url_for("spares.part_detail", part_id=part.id))
    return _part_page(stock.get_part(part_id), errors, request.form, 422)


@bp.post("/spares/parts/<uuid:part_id>/adjust")
@requires(SPARES_WRITE)
def adjust(part_id):
    part = stock.get_part(part_id)
    errors: dict = {}
    delta = _int(request.form, "delta", errors)
    if errors or not delta:
        flash(_("Enter a change other than zero."), "error")
    else:
        try:
            stock.move_stock(part, delta, "adjust", note=_text(request.form, "note"))
        except AppError as exc:
            _fail(exc)
        else:
            flash(_("The stock of %(number)s is now %(quantity)d.", number=part.part_number,
                    quantity=part.quantity), "success")
    return redirect(url_for("spares.part_detail", part_id=part_id))


@bp.post("/spares/parts/<uuid:part_id>/delete")
@requires(SPARES_WRITE)
def delete_part(part_id):
    part = stock.get_part(part_id)
    try:
        stock.delete_part(part)
    except AppError as exc:
        _fail(exc)
        return redirect(url_for("spares.part_detail", part_id=part_id))
    flash(_("The part %(number)s is deleted.", number=part.part_number), "success")
    return redirect(url_for("spares.stock_list"))


@bp.post("/spares/parts/<uuid:part_id>/listing")
@requires(SPARES_SHARE)
def set_listing(part_id):
    part = stock.get_part(part_id)
    form = request.form
    errors: dict = {}
    alliance_ids = []
    for raw in form.getlist("alliance_ids"):
        try:
            alliance_ids.append(uuid.UUID(raw))
        except ValueError:
            errors["alliance_ids"] = ["Choose among the company's alliances."]
    data = {
        "visibility": form.get("visibility") or "none", "alliance_ids": alliance_ids or None,
        "shared_quantity": _int(form, "shared_quantity", errors, default=0),
        "sale_price": _money(form, "sale_price", errors), "exchange_fee": _money(form, "exchange_fee", errors),
        "core_return_days": _int(form, "core_return_days", errors),
        "loan_daily_fee": _money(form, "loan_daily_fee", errors), "loan_max_days": _int(form, "loan_max_days", errors),
        "price_on_request": form.get("price_on_request") == "on",
        "currency": (form.get("currency") or part.currency).strip().upper(), "terms_note": _text(form, "terms_note"),
    }
    if not errors:
        try:
            listings.set_listing(part, **data)
        except AppError as exc:
            db.session.rollback()
            errors = exc.errors or {"__all__": [exc.detail]}
        else:
            flash(_("The sharing of %(number)s is saved.", number=part.part_number), "success")
            return redirect(url_for("spares.part_detail", part_id=part.id))
    return _part_page(stock.get_part(part_id), listing_errors=errors, listing_form=form, status=422)


@bp.post("/spares/parts/<uuid:part_id>/alternates")
@requires(SPARES_WRITE)
def add_alternate(part_id):
    part = stock.get_part(part_id)
    try:
        stock.add_alternate(part, part_number=request.form.get("part_number", ""),
                            manufacturer=request.form.get("manufacturer"), note=request.form.get("note"))
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The interchangeable part is listed."), "success")
    return redirect(url_for("spares.part_detail", part_id=part_id) + "#alternates")


@bp.post("/spares/alternates/<uuid:alternate_id>/delete")
@requires(SPARES_WRITE)
def remove_alternate(alternate_id):
    alt = stock.get_alternate(alternate_id)
    stock.remove_alternate(alt)
    return redirect(url_for("spares.part_detail", part_id=alt.part_id) + "#alternates")


# ---------------------------------------------------------------- site locations

@bp.get("/spares/settings")
@requires(SPARES_READ)
def settings():
    return render_template("spares/settings.html", sites=stock.sites(), errors={}, can_share=_can(SPARES_SHARE))


@bp.post("/spares/settings/<uuid:site_id>")
@requires(SPARES_SHARE)
def set_site(site_id):
    site = get_or_404(Site, site_id, "No such site")
    errors: dict = {}
    latitude, longitude = _float(request.form, "latitude", errors), _float(request.form, "longitude", errors)
    if not errors:
        try:
            stock.set_site_location(site, region=request.form.get("region"), latitude=latitude, longitude=longitude)
        except AppError as exc:
            db.session.rollback()
            errors = exc.errors or {"__all__": [exc.detail]}
        else:
            flash(_("The location of %(site)s is saved.", site=site.name), "success")
            return redirect(url_for("spares.settings"))
    return render_template("spares/settings.html", sites=stock.sites(), errors={site_id: errors},
                           can_share=True), 422


# ---------------------------------------------------------------- the catalogue

@bp.get("/spares/catalogue")
@requires(SPARES_READ)
def catalogue_page():
    args = request.args
    filters = {f: [v for v in args.getlist(f) if v][:20] for f in FACETS if args.getlist(f)}
    sort = args.get("sort") if args.get("sort") in ("relevance", "distance") else "relevance"
    site_id = _uuid_arg(args.get("site_id"))
    try:
        page = max(1, min(500, int(args.get("page", "1"))))
    except ValueError:
        page = 1
    q = (args.get("q") or "")[:200]
    found = catalogue.search_catalogue(q, filters, sort, site_id, page)
    own_sites = [s for s in stock.sites() if s.latitude is not None]
    base = {k: v for k, v in request.args.to_dict(flat=False).items() if k != "page"}

    def facet_link(name, value, on):
        values = [v for v in base.get(name, []) if v != value] + ([] if on else [value])
        return {**base, name: values}

    def page_link(number):
        return {**base, "page": number}

    return render_template("spares/catalogue.html", found=found, q=q, filters=filters, sort=sort, site_id=site_id,
                           own_sites=own_sites, facet_names=FACETS, facet_link=facet_link, page_link=page_link,
                           can_trade=_can(SPARES_TRADE))


@bp.get("/spares/catalogue/<uuid:listing_id>")
@requires(SPARES_READ)
def listing_detail(listing_id):
    listing = listings.get_visible_listing(listing_id)
    entry = catalogue.entry_of(listing)
    mine = listing.tenant_id == sharing.current_tenant().id
    from .models import SpareAttachment

    attachments = list(db.session.scalars(
        select(SpareAttachment).where(SpareAttachment.part_id == listing.id, SpareAttachment.stored.is_(True),
                                      SpareAttachment.tenant_id == listing.tenant_id,
                                      SpareAttachment.shared.is_(True) if not mine else True)
        .order_by(SpareAttachment.created_at).execution_options(skip_tenant_filter=True)))
    return render_template("spares/listing.html", entry=entry, listing=listing, mine=mine, attachments=attachments,
                           can_trade=_can(SPARES_TRADE) and not mine)


# ---------------------------------------------------------------- requests between companies

def _date(form, name, errors):
    from datetime import date

    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.setdefault(name, []).append("Enter a date.")
        return None


@bp.post("/spares/catalogue/<uuid:listing_id>/request")
@requires(SPARES_TRADE)
def request_part(listing_id):
    from . import requests as req_service

    listings.get_visible_listing(listing_id, action=None)  # 404 before anything else
    form = request.form
    errors: dict = {}
    data = {"listing_id": listing_id, "kind": form.get("kind", ""), "quantity": _int(form, "quantity", errors, default=0),
            "urgency": form.get("urgency") or "routine", "needed_by": _date(form, "needed_by", errors),
            "loan_days": _int(form, "loan_days", errors), "note": _text(form, "note")}
    if not errors:
        try:
            req = req_service.create_request(**data)
        except AppError as exc:
            db.session.rollback()
            errors = exc.errors or {"__all__": [exc.detail]}
        else:
            flash(_("Request %(number)s is sent; the quantity is reserved for you meanwhile.", number=req.number),
                  "success")
            return redirect(url_for("spares.request_detail", request_id=req.id))
    for message in [m for msgs in errors.values() for m in msgs]:
        flash(_(str(message)), "error")
    return redirect(url_for("spares.listing_detail", listing_id=listing_id))


@bp.get("/spares/requests")
@requires(SPARES_READ)
def requests_page():
    from . import requests as req_service
    from .models import SpareNotification, SpareRequest

    role = request.args.get("role") if request.args.get("role") in ("incoming", "outgoing") else None
    status = "all" if request.args.get("status") == "all" else "open"
    rows = list(db.session.scalars(req_service.requests_query(role, None if status == "all" else "open")
                                   .order_by(SpareRequest.updated_at.desc(), SpareRequest.id).limit(300)))
    notices = list(db.session.scalars(req_service.notifications_query()
                                      .order_by(SpareNotification.at.desc(), SpareNotification.id).limit(20)))
    me = sharing.current_tenant().id
    names = sharing.names_of({r.tenant_id for r in rows} | {r.requester_tenant_id for r in rows})
    return render_template("spares/requests.html", rows=rows, notices=notices, role=role, status=status, me=me,
                           names=names, unread=req_service.unread_count())


@bp.post("/spares/notifications/read")
@requires(SPARES_READ)
def notifications_read():
    from . import requests as req_service

    req_service.mark_read()
    return redirect(url_for("spares.requests_page"))


STEPS = {"buy": ("requested", "accepted", "shipped", "completed"),
         "borrow": ("requested", "accepted", "shipped", "received", "return_shipped", "completed"),
         "exchange": ("requested", "accepted", "shipped", "received", "core_shipped", "completed")}


@bp.get("/spares/requests/<uuid:request_id>")
@requires(SPARES_READ)
def request_detail(request_id):
    from . import requests as req_service

    req = req_service.get_request(request_id)
    messages = req_service.messages_of(req)
    names = sharing.names_of({req.tenant_id, req.requester_tenant_id})
    role = req_service.role_of(req)
    ratings = req_service.ratings_of(req)
    from . import payments

    return render_template("spares/request.html", req=req, messages=messages, names=names, role=role,
                           payment=payments.payment_of(req), fee_percent=payments.fee_percent(),
                           me=sharing.current_tenant().id, steps=STEPS[req.kind], ratings=ratings,
                           rated=any(r.rater_tenant_id == sharing.current_tenant().id for r in ratings),
                           people=sharing.user_names(m.author_user_id for m in messages),
                           can_trade=_can(SPARES_TRADE))


ACTIONS = ("accept", "decline", "counter", "accept-offer", "cancel", "ship", "receive", "send-back",
           "confirm-return")


@bp.post("/spares/requests/<uuid:request_id>/<action>")
@requires(SPARES_TRADE)
def request_action(request_id, action):
    from . import requests as req_service

    req = req_service.get_request(request_id, for_update=True)  # another company's request: 404 first
    if action not in ACTIONS:
        abort(404)
    form = request.form
    note = _text(form, "note")
    errors: dict = {}
    try:
        if action == "counter":
            price = _money(form, "price", errors)
            quantity = _int(form, "quantity", errors)
            if not errors:
                req_service.counter(req, price=price, quantity=quantity, alternate=_text(form, "alternate"),
                                    note=note)
        elif action in ("ship", "send-back"):
            fn = req_service.ship if action == "ship" else req_service.send_back
            fn(req, _text(form, "tracking"), note)
        else:
            fn = {"accept": req_service.accept, "decline": req_service.decline,
                  "accept-offer": req_service.accept_offer, "cancel": req_service.cancel,
                  "receive": req_service.receive, "confirm-return": req_service.confirm_return}[action]
            fn(req, note)
    except AppError as exc:
        _fail(exc)
    for message in [m for msgs in errors.values() for m in msgs]:
        flash(_(str(message)), "error")
    return redirect(url_for("spares.request_detail", request_id=request_id))


@bp.post("/spares/requests/<uuid:request_id>/messages")
@requires(SPARES_TRADE)
def request_message(request_id):
    from . import requests as req_service

    req = req_service.get_request(request_id)
    try:
        req_service.post_message(req, request.form.get("body", ""))
    except AppError as exc:
        _fail(exc)
    return redirect(url_for("spares.request_detail", request_id=request_id) + "#conversation")


@bp.post("/spares/requests/<uuid:request_id>/rate")
@requires(SPARES_TRADE)
def request_rate(request_id):
    from . import requests as req_service

    req = req_service.get_request(request_id)
    errors: dict = {}
    score = _int(request.form, "score", errors)
    try:
        req_service.rate(req, score if score is not None else 0, _text(request.form, "comment"))
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("Thank you: the rating is recorded."), "success")
    return redirect(url_for("spares.request_detail", request_id=request_id))


@bp.post("/spares/requests/<uuid:request_id>/pay")
@requires(SPARES_TRADE)
def request_pay(request_id):
    """The requester pays online: off to Stripe Checkout."""
    from . import payments
    from . import requests as req_service

    req = req_service.get_request(request_id, for_update=True)
    try:
        url = payments.start_checkout(
            req, success_url=url_for("spares.request_paid", request_id=req.id, _external=True),
            cancel_url=url_for("spares.request_detail", request_id=req.id, _external=True))
    except AppError as exc:
        _fail(exc)
        return redirect(url_for("spares.request_detail", request_id=request_id))
    return redirect(url, code=303)


@bp.get("/spares/requests/<uuid:request_id>/paid")
@requires(SPARES_READ)
def request_paid(request_id):
    """Back from Checkout: Stripe confirms the payment by webhook, moments later."""
    from . import requests as req_service

    req_service.get_request(request_id)
    flash(_("Thank you: the payment is confirmed as soon as Stripe reports it."), "success")
    return request_detail(request_id)


# ---------------------------------------------------------------- payments account (Stripe Connect)

@bp.get("/spares/payments")
@requires(SPARES_READ)
def payments_page():
    from . import payments

    account = payments.account_of()
    return render_template("spares/payments.html", account=account, state=payments.account_state(account),
                           enabled=payments.enabled(), fee_percent=payments.fee_percent(),
                           can_manage=_can(SPARES_SHARE))


def _onboarding_redirect():
    from . import payments

    try:
        url = payments.connect(return_url=url_for("spares.payments_return", _external=True),
                               refresh_url=url_for("spares.payments_connect_again", _external=True))
    except AppError as exc:
        _fail(exc)
        return redirect(url_for("spares.payments_page"))
    return redirect(url, code=303)


@bp.post("/spares/payments/connect")
@requires(SPARES_SHARE)
def payments_connect():
    return _onboarding_redirect()


@bp.get("/spares/payments/connect")
@requires(SPARES_SHARE)
def payments_connect_again():
    """Stripe's refresh_url: the onboarding link expired, make a new one."""
    return _onboarding_redirect()


@bp.get("/spares/payments/return")
@requires(SPARES_READ)
def payments_return():
    from . import payments

    try:
        account = payments.refresh_account()
    except AppError as exc:
        _fail(exc)
    else:
        if payments.can_be_paid(account):
            flash(_("The Stripe account is connected: buyers pay online from now on."), "success")
        else:
            flash(_("Stripe has not finished checking the account yet; this page shows when it can take payments."),
                  "warning")
    return redirect(url_for("spares.payments_page"))


# ---------------------------------------------------------------- wanted posts

@bp.get("/spares/wanted")
@requires(SPARES_READ)
def wanted_page(errors=None, form=None, status=200):
    from . import wanted
    from .models import SpareWanted

    posts = list(db.session.scalars(wanted.board_query().order_by(SpareWanted.created_at.desc(), SpareWanted.id)
                                    .limit(300)))
    me = sharing.current_tenant().id
    others = [p for p in posts if p.tenant_id != me]
    if others:
        from .models import WANTED_KIND

        sharing.record_reads([(p.tenant_id, WANTED_KIND, p.id) for p in others], "listed")
        db.session.commit()
    part = None
    part_id = _uuid_arg(request.args.get("part_id"))
    if part_id:
        part = stock.get_part(part_id)
    return render_template("spares/wanted.html", posts=posts, me=me, names=sharing.names_of(p.tenant_id for p in posts),
                           alliances=sharing.alliances_of(), part=part, errors=errors or {}, form=form or {},
                           can_trade=_can(SPARES_TRADE)), status


@bp.post("/spares/wanted")
@requires(SPARES_TRADE)
def post_wanted():
    from . import wanted

    form = request.form
    errors: dict = {}
    part_id = None
    if form.get("part_id"):
        try:
            part_id = uuid.UUID(form["part_id"])
        except ValueError:
            errors["part_id"] = ["No such spare part"]
    data = {"part_number": form.get("part_number", ""), "manufacturer": _text(form, "manufacturer"),
            "description": form.get("description", ""), "quantity": _int(form, "quantity", errors, default=1),
            "needed_by": _date(form, "needed_by", errors), "part_id": part_id,
            "audience": form.get("audience") or "alliances"}
    if not errors:
        try:
            wanted.post(**data)
        except AppError as exc:
            db.session.rollback()
            errors = exc.errors or {"__all__": [exc.detail]}
        else:
            flash(_("The wanted post is up."), "success")
            return redirect(url_for("spares.wanted_page"))
    return wanted_page(errors, form, 422)


@bp.post("/spares/wanted/<uuid:wanted_id>/close")
@requires(SPARES_TRADE)
def close_wanted(wanted_id):
    from . import wanted

    post = wanted.get_own_post(wanted_id)  # another company's post: 404
    try:
        wanted.close(post)
    except AppError as exc:
        _fail(exc)
    return redirect(url_for("spares.wanted_page"))


# ---------------------------------------------------------------- attachments

@bp.post("/spares/parts/<uuid:part_id>/attachments")
@requires(SPARES_WRITE)
def upload_attachment(part_id):
    from . import attachments

    part = stock.get_part(part_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Attach a file."), "error")
    else:
        shared = {"yes": True, "no": False}.get(request.form.get("shared") or "", None)
        try:
            attachments.upload(part, kind=request.form.get("kind", ""), filename=upload.filename, data=upload.read(),
                               content_type=upload.mimetype or None, shared=shared)
        except AppError as exc:
            _fail(exc)
        else:
            flash(_("The file is attached."), "success")
    return redirect(url_for("spares.part_detail", part_id=part_id) + "#attachments")


@bp.get("/spares/attachments/<uuid:attachment_id>")
@requires(SPARES_READ)
def attachment_download(attachment_id):
    from flask import Response

    from alloyhub.platform import storage

    from . import attachments

    found = attachments.get_readable(attachment_id)
    store = storage.current()
    url = store.download_url(found.storage_key, found.filename)
    if url:
        return redirect(url)
    try:
        data = store.get(found.storage_key)
    except storage.StorageError:
        abort(404)
    return Response(data, mimetype=found.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{found.filename}"',
                             "X-Content-Type-Options": "nosniff"})


@bp.post("/spares/attachments/<uuid:attachment_id>/delete")
@requires(SPARES_WRITE)
def delete_attachment(attachment_id):
    from . import attachments

    found = attachments.get_own(attachment_id)
    attachments.delete(found)
    return redirect(url_for("spares.part_detail", part_id=found.part_id) + "#attachments")


@bp.post("/spares/attachments/<uuid:attachment_id>/share")
@requires(SPARES_WRITE)
def share_attachment(attachment_id):
    from . import attachments

    found = attachments.get_own(attachment_id)
    attachments.set_shared(found, request.form.get("shared") == "yes")
    return redirect(url_for("spares.part_detail", part_id=found.part_id) + "#attachments")


@bp.get("/spares/compatible")
@requires(SPARES_READ)
def compatible_page():
    """Spares fitting one equipment model (linked from equipment and alarm pages)."""
    found = catalogue.compatible(request.args.get("model", ""))
    return render_template("spares/compatible.html", found=found)
