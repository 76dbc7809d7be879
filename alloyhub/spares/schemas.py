"""Marshmallow schemas of the spare-parts API: shapes and types only (the
rules are in the services). Per audience: a part (the owner's) and a listing
(what others see) are different schemas, so the owner's location, held
quantity, minimum stock and price never appear in a catalogue answer."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from .models import ATTACHMENT_KINDS, CONDITIONS, REQUEST_KINDS, REQUEST_STATES, URGENCIES, VISIBILITIES



class Money(fields.Decimal):
    """An amount as a decimal string ("85.50"): documented as a string (see
    module.py), as it is sent."""

    def __init__(self, **kwargs):
        kwargs.setdefault("places", 2)
        kwargs.setdefault("as_string", True)
        super().__init__(**kwargs)


def _money_range(value) -> None:
    """0 to under a trillion (a plain function: the OpenAPI document states
    decimals as strings, where a numeric range would not be valid)."""
    if value is not None and not 0 <= value < 10**12:
        raise ma.ValidationError("Enter a price, zero or more.")


_money = {"allow_nan": False, "allow_none": True, "validate": _money_range,
          "metadata": {"description": "A decimal amount, 0 or more, as a string (e.g. \"85.50\")"}}
_code = validate.Length(min=1, max=80)


class SparesPartSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    site_id = fields.UUID(allow_none=True, load_default=None)
    part_number = fields.String(required=True, validate=_code)
    manufacturer = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=120))
    manufacturer_part_number = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=80))
    description = fields.String(load_default="", validate=validate.Length(max=4000))
    category = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=80))
    equipment_models = fields.List(fields.String(validate=validate.Length(min=1, max=120)), load_default=list,
                                   validate=validate.Length(max=30),
                                   metadata={"description": "Equipment models the part fits"})
    dimensions = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=200))
    condition = fields.String(load_default="new", validate=validate.OneOf(CONDITIONS))
    quantity = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))
    location = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=120),
                             metadata={"description": "Where in the plant (store, shelf, bin)"})
    min_stock = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))
    unit_price = Money(**_money, load_default=None)
    currency = fields.String(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))
    notes = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=4000))
    part_number_norm = fields.String(dump_only=True)
    below_minimum = fields.Method("_below", dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    def _below(self, part) -> bool:
        return part.quantity < part.min_stock


class SparesPartUpdateSchema(ma.Schema):
    site_id = fields.UUID(allow_none=True)
    part_number = fields.String(validate=_code)
    manufacturer = fields.String(allow_none=True, validate=validate.Length(max=120))
    manufacturer_part_number = fields.String(allow_none=True, validate=validate.Length(max=80))
    description = fields.String(validate=validate.Length(max=4000))
    category = fields.String(allow_none=True, validate=validate.Length(max=80))
    equipment_models = fields.List(fields.String(validate=validate.Length(min=1, max=120)),
                                   validate=validate.Length(max=30))
    dimensions = fields.String(allow_none=True, validate=validate.Length(max=200))
    condition = fields.String(validate=validate.OneOf(CONDITIONS))
    quantity = fields.Integer(validate=validate.Range(min=0, max=10**9),
                              metadata={"description": "The counted quantity; the difference is a stock move"})
    location = fields.String(allow_none=True, validate=validate.Length(max=120))
    min_stock = fields.Integer(validate=validate.Range(min=0, max=10**9))
    unit_price = Money(**_money)
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$"))
    notes = fields.String(allow_none=True, validate=validate.Length(max=4000))


class SparesPartFilterSchema(ma.Schema):
    q = fields.String(validate=validate.Length(max=200))
    category = fields.String(validate=validate.Length(max=80))
    condition = fields.String(validate=validate.OneOf(CONDITIONS))
    site_id = fields.UUID()
    below_min = fields.Boolean()


class SparesMoveSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    part_id = fields.UUID(dump_only=True)
    delta = fields.Integer(required=True, validate=validate.Range(min=-10**9, max=10**9))
    quantity_after = fields.Integer(dump_only=True)
    reason = fields.String(dump_only=True)
    request_id = fields.UUID(dump_only=True, allow_none=True)
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=300))
    user_id = fields.UUID(dump_only=True, allow_none=True)
    at = fields.DateTime(dump_only=True)


class SparesListingSchema(ma.Schema):
    """The owner's sharing decision and terms of one part."""

    visibility = fields.String(required=True, validate=validate.OneOf(VISIBILITIES),
                               metadata={"description": "none | alliances | subscribers (as the ledger records it; "
                                                        "`companies` when shared with single companies)"})
    alliance_ids = fields.List(fields.UUID(), load_default=None, allow_none=True, validate=validate.Length(max=50),
                               metadata={"description": "With `alliances`: which ones (default: all of them)"})
    shared_quantity = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=10**9))
    sale_price = Money(**_money, load_default=None)
    exchange_fee = Money(**_money, load_default=None)
    core_return_days = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1, max=365))
    loan_daily_fee = Money(**_money, load_default=None)
    loan_max_days = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1, max=730))
    price_on_request = fields.Boolean(load_default=False)
    currency = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^[A-Z]{3}$"))
    terms_note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    reserved = fields.Integer(dump_only=True)
    share_ids = fields.List(fields.UUID(), dump_only=True)


class SparesAlternateSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    manufacturer = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=120))
    part_number = fields.String(required=True, validate=_code)
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=300))


class SparesCatalogueEntrySchema(ma.Schema):
    """A listing as another company sees it."""

    id = fields.UUID(attribute="listing.id")
    holder_id = fields.UUID(attribute="listing.tenant_id")
    holder = fields.String()
    part_number = fields.String(attribute="listing.part_number")
    manufacturer = fields.String(attribute="listing.manufacturer", allow_none=True)
    manufacturer_part_number = fields.String(attribute="listing.manufacturer_part_number", allow_none=True)
    description = fields.String(attribute="listing.description")
    category = fields.String(attribute="listing.category", allow_none=True)
    equipment_models = fields.List(fields.String(), attribute="listing.equipment_models")
    dimensions = fields.String(attribute="listing.dimensions", allow_none=True)
    condition = fields.String(attribute="listing.condition")
    region = fields.String(attribute="listing.region", allow_none=True)
    available = fields.Integer()
    distance_km = fields.Float(allow_none=True, metadata={"description": "Rounded to 5 km"})
    offers = fields.List(fields.String(), metadata={"description": "Request kinds the terms allow"})
    sale_price = Money(attribute="listing.sale_price", places=2, as_string=True, allow_none=True)
    exchange_fee = Money(attribute="listing.exchange_fee", places=2, as_string=True, allow_none=True)
    core_return_days = fields.Integer(attribute="listing.core_return_days", allow_none=True)
    loan_daily_fee = Money(attribute="listing.loan_daily_fee", places=2, as_string=True, allow_none=True)
    loan_max_days = fields.Integer(attribute="listing.loan_max_days", allow_none=True)
    price_on_request = fields.Boolean(attribute="listing.price_on_request")
    currency = fields.String(attribute="listing.currency")
    terms_note = fields.String(attribute="listing.terms_note", allow_none=True)
    alternates = fields.List(fields.Nested(SparesAlternateSchema))
    median_first_reply_s = fields.Float(attribute="stats.median_first_reply_s", allow_none=True)
    rating = fields.Float(attribute="stats.rating_avg", allow_none=True)


class SparesFacetValueSchema(ma.Schema):
    value = fields.String()
    count = fields.Integer()


class SparesCatalogueSearchSchema(ma.Schema):
    q = fields.String(load_default="", validate=validate.Length(max=200))
    category = fields.List(fields.String(validate=validate.Length(max=80)), load_default=list)
    manufacturer = fields.List(fields.String(validate=validate.Length(max=120)), load_default=list)
    condition = fields.List(fields.String(validate=validate.OneOf(CONDITIONS)), load_default=list)
    region = fields.List(fields.String(validate=validate.Length(max=80)), load_default=list)
    model = fields.List(fields.String(validate=validate.Length(max=120)), load_default=list)
    sort = fields.String(load_default="relevance", validate=validate.OneOf(("relevance", "distance")))
    site_id = fields.UUID(load_default=None, metadata={"description": "Own site to measure distance from"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=500))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class SparesCataloguePageSchema(ma.Schema):
    items = fields.List(fields.Nested(SparesCatalogueEntrySchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    facets = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(SparesFacetValueSchema)), required=True)


class SparesImportResultSchema(ma.Schema):
    created = fields.Integer()
    updated = fields.Integer()


class SparesSiteLocationSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    region = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=80))
    latitude = fields.Float(allow_none=True, load_default=None, allow_nan=False,
                            validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(allow_none=True, load_default=None, allow_nan=False,
                             validate=validate.Range(min=-180, max=180))


# ---------------------------------------------------------------- requests

class SparesRequestSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    number = fields.String(dump_only=True)
    listing_id = fields.UUID(required=True)
    holder_id = fields.UUID(attribute="tenant_id", dump_only=True)
    requester_id = fields.UUID(attribute="requester_tenant_id", dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(REQUEST_KINDS))
    quantity = fields.Integer(required=True, validate=validate.Range(min=1, max=10**6))
    urgency = fields.String(load_default="routine", validate=validate.OneOf(URGENCIES))
    needed_by = fields.Date(allow_none=True, load_default=None)
    loan_days = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1, max=730))
    note = fields.String(load_only=True, allow_none=True, load_default=None, validate=validate.Length(max=4000))
    status = fields.String(dump_only=True, metadata={"description": " | ".join(REQUEST_STATES)})
    part_label = fields.String(dump_only=True)
    part_number = fields.String(dump_only=True)
    manufacturer = fields.String(dump_only=True, allow_none=True)
    condition = fields.String(dump_only=True)
    unit_price = Money(dump_only=True, allow_none=True)
    currency = fields.String(dump_only=True)
    core_return_days = fields.Integer(dump_only=True, allow_none=True)
    offer_price = Money(dump_only=True, allow_none=True)
    offer_quantity = fields.Integer(dump_only=True, allow_none=True)
    offer_alternate = fields.String(dump_only=True, allow_none=True)
    offer_note = fields.String(dump_only=True, allow_none=True)
    first_reply_at = fields.DateTime(dump_only=True, allow_none=True)
    shipped_at = fields.DateTime(dump_only=True, allow_none=True)
    received_at = fields.DateTime(dump_only=True, allow_none=True)
    return_due = fields.Date(dump_only=True, allow_none=True)
    tracking = fields.String(dump_only=True, allow_none=True)
    return_tracking = fields.String(dump_only=True, allow_none=True)
    settlement = fields.String(dump_only=True, metadata={"description": "offline | stripe"})
    payment = fields.Method("_payment", dump_only=True, allow_none=True,
                            metadata={"description": "The online payment (settlement stripe), as both sides see it"})

    def _payment(self, req):
        from .payments import payment_of

        found = payment_of(req)
        return SparesPaymentSchema().dump(found) if found is not None else None
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class SparesRequestFilterSchema(ma.Schema):
    role = fields.String(validate=validate.OneOf(("incoming", "outgoing")),
                         metadata={"description": "incoming: others ask us; outgoing: we ask others"})
    status = fields.String(validate=validate.OneOf((*REQUEST_STATES, "open")))


class SparesCounterSchema(ma.Schema):
    price = Money(**_money, load_default=None)
    quantity = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1, max=10**6))
    alternate = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=300),
                              metadata={"description": "An interchangeable part offered instead: the requester "
                                                       "must approve it"})
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=4000))


class SparesNoteSchema(ma.Schema):
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=4000))


class SparesShipSchema(ma.Schema):
    tracking = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=120))
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=4000))


class SparesMessageSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    author_tenant_id = fields.UUID(dump_only=True)
    author_user_id = fields.UUID(dump_only=True, allow_none=True)
    kind = fields.String(dump_only=True)
    event = fields.String(dump_only=True, allow_none=True)
    body = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    at = fields.DateTime(dump_only=True)


class SparesRatingSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    rated_tenant_id = fields.UUID(dump_only=True)
    score = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    at = fields.DateTime(dump_only=True)


class SparesAttachmentSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    part_id = fields.UUID(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(ATTACHMENT_KINDS))
    filename = fields.String(required=True, validate=validate.Length(min=1, max=200))
    content_type = fields.String(required=True, validate=validate.Length(min=1, max=120))
    size = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1, max=200 * 1024 * 1024))
    shared = fields.Boolean(load_default=None, allow_none=True,
                            metadata={"description": "Shown with the listing (default: certificates, inspection "
                                                     "reports and photos are; drawings are not)"})
    stored = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class SparesUploadTicketSchema(ma.Schema):
    attachment = fields.Nested(SparesAttachmentSchema)
    upload_url = fields.String()
    method = fields.String()
    headers = fields.Dict(keys=fields.String(), values=fields.String())


class SparesDownloadSchema(ma.Schema):
    url = fields.String()


class SparesWantedSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    owner_id = fields.UUID(attribute="tenant_id", dump_only=True)
    part_id = fields.UUID(allow_none=True, load_default=None)
    part_number = fields.String(required=True, validate=_code)
    manufacturer = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=120))
    description = fields.String(load_default="", validate=validate.Length(max=4000))
    quantity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**6))
    needed_by = fields.Date(allow_none=True, load_default=None)
    audience = fields.String(load_only=True, load_default="alliances",
                             validate=validate.OneOf(("alliances", "subscribers")))
    status = fields.String(dump_only=True)
    region = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class SparesPaymentSchema(ma.Schema):
    status = fields.String(dump_only=True, metadata={"description": "due | pending | paid | refunded | cancelled"})
    amount = Money(dump_only=True)
    currency = fields.String(dump_only=True)
    platform_fee = fields.Method("_fee", dump_only=True)
    paid_at = fields.DateTime(dump_only=True, allow_none=True)
    refunded_at = fields.DateTime(dump_only=True, allow_none=True)

    def _fee(self, payment):
        from decimal import Decimal

        from .payments import ZERO_DECIMAL

        exponent = 1 if payment.currency.lower() in ZERO_DECIMAL else 100
        return str((Decimal(payment.fee_minor) / exponent).quantize(Decimal("0.01")))


class SparesPaymentAccountSchema(ma.Schema):
    payments_enabled = fields.Boolean(dump_only=True, metadata={"description": "Online payment is set up here"})
    state = fields.String(dump_only=True, metadata={"description": "none | onboarding | pending | enabled"})
    charges_enabled = fields.Boolean(dump_only=True)
    payouts_enabled = fields.Boolean(dump_only=True)
    details_submitted = fields.Boolean(dump_only=True)
    platform_fee_percent = fields.String(dump_only=True)


class SparesRedirectSchema(ma.Schema):
    url = fields.String(dump_only=True, metadata={"description": "Stripe's page to send the user to"})
