"""/api/v1: the spare-parts stock, its sharing decisions and terms, the
industry catalogue, requests between companies, attachments, "wanted" posts."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from alloyhub.platform import api as api_conventions
from alloyhub.platform.api import Blueprint, PageArgs, page_of, paginate
from alloyhub.platform.auth import requires
from alloyhub.platform.errors import ValidationFailed

from . import attachments, catalogue, listings, stock, wanted
from . import requests as req_service
from . import schemas as s
from .models import SpareNotification, SparePart, SpareRequest, SpareRequestMessage, SpareStockMove
from .permissions import SPARES_READ, SPARES_SHARE, SPARES_TRADE, SPARES_WRITE

blp = Blueprint("spares_api", __name__, url_prefix="/api/v1",
                description="Spare parts: own stock, sharing, the industry catalogue, requests between companies")

PartPage = page_of(s.SparesPartSchema)


class SparesFileSchema(ma.Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


# ---------------------------------------------------------------- own stock

@blp.route("/spare-parts")
class Parts(MethodView):
    @requires(SPARES_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.SparesPartFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, PartPage)
    def get(self, args, q=None, category=None, condition=None, site_id=None, below_min=False):
        """The company's spare parts (filter by text, category, condition, site, below minimum)"""
        return paginate(stock.parts_query(q, category, condition, site_id, below_min), args,
                        (SparePart.created_at, SparePart.id))

    @requires(SPARES_WRITE)
    @blp.arguments(s.SparesPartSchema)
    @blp.response(201, s.SparesPartSchema)
    def post(self, data):
        """Add a spare part to the stock"""
        return stock.create_part(**data)


@blp.route("/spare-parts/import")
class PartImport(MethodView):
    @requires(SPARES_WRITE)
    @blp.arguments(SparesFileSchema, location="files")
    @blp.response(201, s.SparesImportResultSchema)
    def post(self, files):
        """Import parts from a CSV or Excel (.xlsx) file (multipart field `file`); all rows or none"""
        upload = files["file"]
        if not hasattr(upload, "read"):
            raise ValidationFailed(errors={"file": ["Upload a .csv or .xlsx file."]})
        return stock.import_file(upload.filename or "", upload.read())


api_conventions.NON_JSON_BODY_ENDPOINTS.add("spares_api.PartImport")


@blp.route("/spare-parts/<uuid:part_id>")
class PartItem(MethodView):
    @requires(SPARES_READ)
    @blp.etag
    @blp.response(200, s.SparesPartSchema)
    def get(self, part_id):
        """One spare part"""
        return stock.get_part(part_id)

    @requires(SPARES_WRITE)
    @blp.etag
    @blp.arguments(s.SparesPartUpdateSchema)
    @blp.response(200, s.SparesPartSchema)
    def patch(self, data, part_id):
        """Change a spare part (send If-Match with its ETag); a new quantity is recorded as a stock move"""
        part = stock.get_part(part_id)
        blp.check_etag(part, s.SparesPartSchema)
        return stock.update_part(part, **data)

    @requires(SPARES_WRITE)
    @blp.response(204)
    def delete(self, part_id):
        """Delete a spare part (409 while requests for it are open); its shares are revoked"""
        stock.delete_part(stock.get_part(part_id))


@blp.route("/spare-parts/<uuid:part_id>/moves")
class PartMoves(MethodView):
    @requires(SPARES_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.SparesMoveSchema))
    def get(self, args, part_id):
        """Every stock move of a part, newest first"""
        part = stock.get_part(part_id)
        return paginate(stock.moves_query(part), args, (SpareStockMove.at, SpareStockMove.id), descending=True)

    @requires(SPARES_WRITE)
    @blp.arguments(s.SparesMoveSchema)
    @blp.response(201, s.SparesMoveSchema)
    def post(self, data, part_id):
        """Record a stock move (positive: received, negative: used); 409 if it would go below zero"""
        return stock.move_stock(stock.get_part(part_id), data["delta"], "adjust", note=data.get("note"))


def _listing_view(part):
    decision = listings.decision(part)
    listing = listings.listing_of(part)
    view = {k: getattr(listing, k) for k in listings.TERM_FIELDS} if listing else {"currency": part.currency}
    view.update(visibility=decision["visibility"], alliance_ids=decision["alliance_ids"],
                shared_quantity=listing.shared_quantity if listing else 0, reserved=listings.reserved_of(part.id),
                share_ids=[x.id for x in decision["shares"]])
    return view


@blp.route("/spare-parts/<uuid:part_id>/listing")
class PartListing(MethodView):
    @requires(SPARES_READ)
    @blp.response(200, s.SparesListingSchema)
    def get(self, part_id):
        """The part's sharing decision (from the consent ledger) and listing terms"""
        return _listing_view(stock.get_part(part_id))

    @requires(SPARES_SHARE)
    @blp.arguments(s.SparesListingSchema)
    @blp.response(200, s.SparesListingSchema)
    def put(self, data, part_id):
        """Decide whether and with whom the part is shared, how many, and on which terms"""
        part = stock.get_part(part_id)
        terms = {k: v for k, v in data.items() if k in listings.TERM_FIELDS}
        if terms.get("currency") is None:
            terms.pop("currency", None)
        listings.set_listing(part, visibility=data["visibility"], alliance_ids=data.get("alliance_ids"),
                             shared_quantity=data.get("shared_quantity"), **terms)
        return _listing_view(part)


@blp.route("/spare-parts/<uuid:part_id>/alternates")
class PartAlternates(MethodView):
    @requires(SPARES_READ)
    @blp.response(200, s.SparesAlternateSchema(many=True))
    def get(self, part_id):
        """Interchangeable parts listed for a part (shown beside it, never substituted without approval)"""
        from alloyhub.platform.db import db

        return list(db.session.scalars(stock.alternates_query(stock.get_part(part_id))))

    @requires(SPARES_WRITE)
    @blp.arguments(s.SparesAlternateSchema)
    @blp.response(201, s.SparesAlternateSchema)
    def post(self, data, part_id):
        """List an interchangeable part (same function, other maker or number)"""
        return stock.add_alternate(stock.get_part(part_id), **data)


@blp.route("/spare-alternates/<uuid:alternate_id>")
class AlternateItem(MethodView):
    @requires(SPARES_WRITE)
    @blp.response(204)
    def delete(self, alternate_id):
        """Remove an interchangeable part from the list"""
        stock.remove_alternate(stock.get_alternate(alternate_id))


@blp.route("/spare-sites")
class SiteLocations(MethodView):
    @requires(SPARES_READ)
    @blp.response(200, s.SparesSiteLocationSchema(many=True))
    def get(self):
        """The company's sites with the region and position its listings show (roughly)"""
        return stock.sites()


@blp.route("/spare-sites/<uuid:site_id>")
class SiteLocation(MethodView):
    @requires(SPARES_SHARE)
    @blp.arguments(s.SparesSiteLocationSchema)
    @blp.response(200, s.SparesSiteLocationSchema)
    def put(self, data, site_id):
        """Set a site's region and position (shown to others rounded, as region and distance)"""
        from alloyhub.platform.db import get_or_404
        from alloyhub.platform.identity.models import Site

        site = get_or_404(Site, site_id, "No such site")
        return stock.set_site_location(site, region=data.get("region"), latitude=data.get("latitude"),
                                       longitude=data.get("longitude"))


# ---------------------------------------------------------------- the industry catalogue

@blp.route("/spares-catalogue")
class Catalogue(MethodView):
    @requires(SPARES_READ)
    @blp.arguments(s.SparesCatalogueSearchSchema, location="query")
    @blp.response(200, s.SparesCataloguePageSchema)
    def get(self, args):
        """Search the parts other companies share with this one: full text, typo-tolerant, part numbers
        normalised; facets (category, manufacturer, condition, region, model); by relevance or distance"""
        filters = {k: args[k] for k in ("category", "manufacturer", "condition", "region", "model") if args[k]}
        found = catalogue.search_catalogue(args["q"], filters, args["sort"], args["site_id"], args["page"],
                                           args["per_page"])
        return {"items": found["entries"], "total": found["total"], "page": found["page"],
                "facets": {k: [{"value": v, "count": n} for v, n in values]
                           for k, values in found["facets"].items()}}


@blp.route("/spares-catalogue/<uuid:listing_id>")
class CatalogueItem(MethodView):
    @requires(SPARES_READ)
    @blp.response(200, s.SparesCatalogueEntrySchema)
    def get(self, listing_id):
        """One listing: the company's own or one shared with it (the read is recorded for the holder)"""
        listing = listings.get_visible_listing(listing_id)
        return catalogue.entry_of(listing)


# ---------------------------------------------------------------- requests between companies

@blp.route("/spare-requests")
class Requests(MethodView):
    @requires(SPARES_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.SparesRequestFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.SparesRequestSchema))
    def get(self, args, role=None, status=None):
        """Requests the company is a party to: incoming (others ask us) or outgoing (we ask others)"""
        return paginate(req_service.requests_query(role, status), args, (SpareRequest.created_at, SpareRequest.id),
                        descending=True)

    @requires(SPARES_TRADE)
    @blp.arguments(s.SparesRequestSchema)
    @blp.response(201, s.SparesRequestSchema)
    def post(self, data):
        """Request a shared part from its holder (buy, exchange or borrow); the quantity is reserved at once
        (409 when fewer are available)"""
        return req_service.create_request(**data)


@blp.route("/spare-requests/<uuid:request_id>")
class RequestItem(MethodView):
    @requires(SPARES_READ)
    @blp.response(200, s.SparesRequestSchema)
    def get(self, request_id):
        """One request line, as both companies see it"""
        return req_service.get_request(request_id)


def _action(name: str, doc: str, fn, schema=s.SparesNoteSchema):
    """POST /spare-requests/<id>/<name>: one step of the request."""

    def post(self, data, request_id):
        return fn(req_service.get_request(request_id, for_update=True), **data)

    post.__doc__ = doc
    view = type(f"Request{name.title().replace('-', '')}", (MethodView,), {
        "post": requires(SPARES_TRADE)(blp.arguments(schema)(blp.response(200, s.SparesRequestSchema)(post)))})
    blp.route(f"/spare-requests/<uuid:request_id>/{name}")(view)


def _note_only(fn):
    return lambda req, note=None: fn(req, note)


_action("accept", "Holder: accept the request as asked (409 for price on request: quote first)",
        _note_only(req_service.accept))
_action("counter", "Holder: counter-offer a price (a quote), a quantity or an interchangeable part",
        lambda req, **kw: req_service.counter(req, **kw), s.SparesCounterSchema)
_action("decline", "Holder: decline the request (the reservation ends)", _note_only(req_service.decline))
_action("accept-offer", "Requester: accept the counter-offer (approving any interchangeable part in it)",
        _note_only(req_service.accept_offer))
_action("cancel", "Cancel: the requester until shipment, the holder once accepted", _note_only(req_service.cancel))
_action("ship", "Holder: ship the parts (its stock goes down)",
        lambda req, tracking=None, note=None: req_service.ship(req, tracking, note), s.SparesShipSchema)
_action("receive", "Requester: confirm receipt (its stock goes up; a purchase is complete)",
        _note_only(req_service.receive))
_action("send-back", "Requester: send a loan back, or an exchange's failed core",
        lambda req, tracking=None, note=None: req_service.send_back(req, tracking, note), s.SparesShipSchema)
_action("confirm-return", "Holder: confirm the loan (or the core) is back (its stock goes up)",
        _note_only(req_service.confirm_return))


@blp.route("/spare-requests/<uuid:request_id>/messages")
class RequestMessages(MethodView):
    @requires(SPARES_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.SparesMessageSchema))
    def get(self, args, request_id):
        """The request's conversation, with its system events, oldest first"""
        return paginate(req_service.messages_query(req_service.get_request(request_id)), args,
                        (SpareRequestMessage.at, SpareRequestMessage.id))

    @requires(SPARES_TRADE)
    @blp.arguments(s.SparesMessageSchema)
    @blp.response(201, s.SparesMessageSchema)
    def post(self, data, request_id):
        """Write to the other company on this request"""
        return req_service.post_message(req_service.get_request(request_id), data["body"])


@blp.route("/spare-requests/<uuid:request_id>/ratings")
class RequestRatings(MethodView):
    @requires(SPARES_READ)
    @blp.response(200, s.SparesRatingSchema(many=True))
    def get(self, request_id):
        """The ratings both companies gave on this request"""
        return req_service.ratings_of(req_service.get_request(request_id))

    @requires(SPARES_TRADE)
    @blp.arguments(s.SparesRatingSchema)
    @blp.response(201, s.SparesRatingSchema)
    def post(self, data, request_id):
        """Rate the other company (1-5) once the request is complete; once per company"""
        return req_service.rate(req_service.get_request(request_id), data["score"], data.get("comment"))


class SparesNotificationSchema(ma.Schema):
    id = ma.fields.UUID()
    request_id = ma.fields.UUID(allow_none=True)
    event = ma.fields.String()
    body = ma.fields.String()
    at = ma.fields.DateTime()
    read_at = ma.fields.DateTime(allow_none=True)


class SparesReadCountSchema(ma.Schema):
    marked = ma.fields.Integer()


@blp.route("/spare-notifications")
class Notifications(MethodView):
    @requires(SPARES_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(SparesNotificationSchema))
    def get(self, args):
        """Notices about requests from other companies, newest first"""
        return paginate(req_service.notifications_query(), args, (SpareNotification.at, SpareNotification.id),
                        descending=True)


@blp.route("/spare-notifications/read")
class NotificationsRead(MethodView):
    @requires(SPARES_READ)
    @blp.response(200, SparesReadCountSchema)
    def post(self):
        """Mark every notice read"""
        return {"marked": req_service.mark_read()}


# ---------------------------------------------------------------- wanted posts

@blp.route("/spares-wanted")
class Wanted(MethodView):
    @requires(SPARES_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.SparesWantedSchema))
    def get(self, args):
        """Open "wanted" posts: the company's own and those its alliances (or every subscriber) share with it"""
        from .models import SpareWanted

        return paginate(wanted.board_query(), args, (SpareWanted.created_at, SpareWanted.id), descending=True)

    @requires(SPARES_TRADE)
    @blp.arguments(s.SparesWantedSchema)
    @blp.response(201, s.SparesWantedSchema)
    def post(self, data):
        """Post a part nobody shares as wanted, to the company's alliances (or to every subscriber)"""
        return wanted.post(**data)


@blp.route("/spares-wanted/<uuid:wanted_id>")
class WantedItem(MethodView):
    @requires(SPARES_READ)
    @blp.response(200, s.SparesWantedSchema)
    def get(self, wanted_id):
        """One wanted post (own, or shared with the company: the read is recorded for its author)"""
        return wanted.get_post(wanted_id)


@blp.route("/spares-wanted/<uuid:wanted_id>/close")
class WantedClose(MethodView):
    @requires(SPARES_TRADE)
    @blp.response(200, s.SparesWantedSchema)
    def post(self, wanted_id):
        """Close one of the company's wanted posts (its shares are revoked)"""
        return wanted.close(wanted.get_own_post(wanted_id))


# ---------------------------------------------------------------- attachments

class SparesUploadFormSchema(ma.Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class SparesUploadFieldsSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ("drawing", "photo", "certificate", "inspection_report")))
    shared = ma.fields.Boolean(load_default=None, allow_none=True)


class SparesSharedSchema(ma.Schema):
    shared = ma.fields.Boolean(required=True)


@blp.route("/spare-parts/<uuid:part_id>/attachments")
class PartAttachments(MethodView):
    @requires(SPARES_READ)
    @blp.response(200, s.SparesAttachmentSchema(many=True))
    def get(self, part_id):
        """A part's drawings, photos, certificates and inspection reports"""
        from alloyhub.platform.db import db

        return list(db.session.scalars(attachments.attachments_of(stock.get_part(part_id))))

    @requires(SPARES_WRITE)
    @blp.doc(requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file", "kind"],
        "properties": {"file": {"type": "string", "format": "binary"},
                       "kind": {"type": "string", "enum": ["drawing", "photo", "certificate", "inspection_report"]},
                       "shared": {"type": "boolean"}}}}}})
    @blp.response(201, s.SparesAttachmentSchema)
    def post(self, part_id):
        """Attach a file (multipart: `file`, `kind`, optional `shared`; at most 25 MB) through the app"""
        from flask import request

        part = stock.get_part(part_id)  # another company's part: 404 before the body is looked at
        fields, errors = SparesUploadFieldsSchema().validate(request.form.to_dict()), {}
        if fields:
            errors.update(fields)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            errors["file"] = ["Attach a file."]
        if errors:
            raise ValidationFailed(errors=errors)
        data = SparesUploadFieldsSchema().load(request.form.to_dict())
        return attachments.upload(part, kind=data["kind"], filename=upload.filename, data=upload.read(),
                                  content_type=upload.mimetype or None, shared=data.get("shared"))


api_conventions.NON_JSON_BODY_ENDPOINTS.add("spares_api.PartAttachments")


@blp.route("/spare-parts/<uuid:part_id>/attachment-uploads")
class PartAttachmentUploads(MethodView):
    @requires(SPARES_WRITE)
    @blp.arguments(s.SparesAttachmentSchema)
    @blp.response(201, s.SparesUploadTicketSchema)
    def post(self, data, part_id):
        """Start a direct upload to storage (S3): a presigned PUT URL; confirm the attachment afterwards
        (409 where files are stored by the app itself: upload through /attachments)"""
        attachment, ticket = attachments.start_upload(stock.get_part(part_id), **data)
        return {"attachment": attachment, "upload_url": ticket["url"], "method": ticket["method"],
                "headers": ticket["headers"]}


@blp.route("/spare-attachments/<uuid:attachment_id>")
class AttachmentItem(MethodView):
    @requires(SPARES_WRITE)
    @blp.arguments(SparesSharedSchema)
    @blp.response(200, s.SparesAttachmentSchema)
    def patch(self, data, attachment_id):
        """Share the file with the listing, or stop sharing it"""
        return attachments.set_shared(attachments.get_own(attachment_id), data["shared"])

    @requires(SPARES_WRITE)
    @blp.response(204)
    def delete(self, attachment_id):
        """Delete an attachment and its file"""
        attachments.delete(attachments.get_own(attachment_id))


@blp.route("/spare-attachments/<uuid:attachment_id>/confirm")
class AttachmentConfirm(MethodView):
    @requires(SPARES_WRITE)
    @blp.response(200, s.SparesAttachmentSchema)
    def post(self, attachment_id):
        """Confirm a direct upload: the file must be in storage (409 if not yet)"""
        return attachments.confirm(attachments.get_own(attachment_id))


@blp.route("/spare-attachments/<uuid:attachment_id>/download")
class AttachmentDownload(MethodView):
    @requires(SPARES_READ)
    @blp.response(200, s.SparesDownloadSchema)
    def get(self, attachment_id):
        """Where to download the file: a short-lived presigned URL (S3) or the app's own address. Others'
        shared files too (the download is recorded for the holder)"""
        from flask import url_for

        from alloyhub.platform import storage

        found = attachments.get_readable(attachment_id)
        url = storage.current().download_url(found.storage_key, found.filename)
        return {"url": url or url_for("spares.attachment_download", attachment_id=found.id, _external=True)}


class SparesCompatibleArgsSchema(ma.Schema):
    model = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120))


class SparesCompatibleSchema(ma.Schema):
    model = ma.fields.String()
    own = ma.fields.List(ma.fields.Nested(s.SparesPartSchema))
    shared = ma.fields.List(ma.fields.Nested(s.SparesCatalogueEntrySchema))


@blp.route("/spares-compatible")
class Compatible(MethodView):
    @requires(SPARES_READ)
    @blp.arguments(SparesCompatibleArgsSchema, location="query")
    @blp.response(200, SparesCompatibleSchema)
    def get(self, args):
        """Spares that fit an equipment model: own stock and parts others share, nearest first"""
        return catalogue.compatible(args["model"])


# ---------------------------------------------------------------- payments (Stripe Connect)

def _account_view():
    from . import payments

    account = payments.account_of()
    return {"payments_enabled": payments.enabled(), "state": payments.account_state(account),
            "charges_enabled": bool(account and account.charges_enabled),
            "payouts_enabled": bool(account and account.payouts_enabled),
            "details_submitted": bool(account and account.details_submitted),
            "platform_fee_percent": str(payments.fee_percent())}


@blp.route("/spare-payments/account")
class PaymentAccount(MethodView):
    @requires(SPARES_READ)
    @blp.response(200, s.SparesPaymentAccountSchema)
    def get(self):
        """The company's Stripe Connect account for selling parts online, as last known"""
        return _account_view()


@blp.route("/spare-payments/account/link")
class PaymentAccountLink(MethodView):
    @requires(SPARES_SHARE)
    @blp.response(201, s.SparesRedirectSchema)
    def post(self):
        """Connect (or finish connecting) the company's Stripe account: Stripe's onboarding page (409 when
        online payment is off)"""
        from flask import url_for

        from . import payments

        return {"url": payments.connect(return_url=url_for("spares.payments_return", _external=True),
                                        refresh_url=url_for("spares.payments_connect_again", _external=True))}


@blp.route("/spare-payments/account/refresh")
class PaymentAccountRefresh(MethodView):
    @requires(SPARES_SHARE)
    @blp.response(200, s.SparesPaymentAccountSchema)
    def post(self):
        """Ask Stripe whether the company's account can take payments now"""
        from . import payments

        payments.refresh_account()
        return _account_view()


@blp.route("/spare-requests/<uuid:request_id>/pay")
class RequestPay(MethodView):
    @requires(SPARES_TRADE)
    @blp.response(201, s.SparesRedirectSchema)
    def post(self, request_id):
        """Requester: pay an accepted request online: Stripe Checkout's page (409 when settled offline)"""
        from flask import url_for

        from . import payments

        req = req_service.get_request(request_id, for_update=True)
        return {"url": payments.start_checkout(
            req, success_url=url_for("spares.request_paid", request_id=req.id, _external=True),
            cancel_url=url_for("spares.request_detail", request_id=req.id, _external=True))}
