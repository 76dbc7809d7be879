"""The spare-parts room's tables.

A plant's own stock (`SparePart`, with its stock moves, alternates and
attachments) is its alone. What it shares is a `SpareListing`: one per part
(same id), holding the public projection of the part (identity, condition,
rough region) and the listing terms; whether and with whom it is shared is
decided by the consent ledger (shares of kind "spares.part"), never stored
here. Other companies read listings, alternates and shared attachments
through the ledger (row-level security calls `ah_may_see`); the part itself,
with its location, held quantity, minimum stock and price, never leaves.

A request between two companies is one shared row (`SpareRequest`) that both
parties read (`tenant_id` is the holder, `requester_tenant_id` the other),
with its conversation and system events (`SpareRequestMessage`) and the
ratings both sides give (`SpareRating`).
"""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, Numeric, String, Text, func,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from alloyhub.platform.db import Base, IdMixin, TimestampMixin, utcnow
from alloyhub.platform.tenancy import TenantScoped

PART_KIND = "spares.part"      # the ledger's kind for a part's listing
WANTED_KIND = "spares.wanted"  # the ledger's kind for a "wanted" post

CONDITIONS = ("new", "refurbished", "used")
VISIBILITIES = ("none", "alliances", "subscribers")
ATTACHMENT_KINDS = ("drawing", "photo", "certificate", "inspection_report")
REQUEST_KINDS = ("buy", "exchange", "borrow")
URGENCIES = ("routine", "urgent", "line_down")

# Request states: open ones hold quantity (a reservation) at the holder.
REQUESTED, COUNTERED, ACCEPTED = "requested", "countered", "accepted"
SHIPPED, RECEIVED = "shipped", "received"
RETURN_SHIPPED, CORE_SHIPPED = "return_shipped", "core_shipped"
COMPLETED, DECLINED, CANCELLED = "completed", "declined", "cancelled"
REQUEST_STATES = (REQUESTED, COUNTERED, ACCEPTED, SHIPPED, RECEIVED, RETURN_SHIPPED, CORE_SHIPPED, COMPLETED,
                  DECLINED, CANCELLED)
HOLDING_STATES = (REQUESTED, COUNTERED, ACCEPTED)
OPEN_STATES = (REQUESTED, COUNTERED, ACCEPTED, SHIPPED, RECEIVED, RETURN_SHIPPED, CORE_SHIPPED)

MONEY = Numeric(14, 2)


class SparePart(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "spares_parts"
    __table_args__ = (Index("ix_spares_parts_tenant_norm", "tenant_id", "part_number_norm"),)
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    part_number: Mapped[str] = mapped_column(String(80), nullable=False)
    part_number_norm: Mapped[str] = mapped_column(String(80), nullable=False)
    manufacturer: Mapped[str | None] = mapped_column(String(120))
    manufacturer_part_number: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    category: Mapped[str | None] = mapped_column(String(80))
    equipment_models: Mapped[list[str]] = mapped_column(ARRAY(String(120)), nullable=False, default=list)
    dimensions: Mapped[str | None] = mapped_column(String(200))
    condition: Mapped[str] = mapped_column(String(20), nullable=False, default="new")
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    location: Mapped[str | None] = mapped_column(String(120))
    min_stock: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unit_price: Mapped[Decimal | None] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    notes: Mapped[str | None] = mapped_column(Text)


class SpareListing(TimestampMixin, TenantScoped, Base):
    """The shared face of a part (same id): what others may see, and the
    terms on which the holder lends, sells or exchanges it."""

    __tablename__ = "spares_listings"
    id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spares_parts.id", ondelete="CASCADE"), primary_key=True)
    shared_quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Terms: each offered when its price is set.
    sale_price: Mapped[Decimal | None] = mapped_column(MONEY)
    exchange_fee: Mapped[Decimal | None] = mapped_column(MONEY)
    core_return_days: Mapped[int | None] = mapped_column(Integer)
    loan_daily_fee: Mapped[Decimal | None] = mapped_column(MONEY)
    loan_max_days: Mapped[int | None] = mapped_column(Integer)
    price_on_request: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    terms_note: Mapped[str | None] = mapped_column(Text)
    # The public projection of the part, kept in step by the services.
    part_number: Mapped[str] = mapped_column(String(80), nullable=False)
    part_number_norm: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    manufacturer: Mapped[str | None] = mapped_column(String(120))
    manufacturer_part_number: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    category: Mapped[str | None] = mapped_column(String(80))
    equipment_models: Mapped[list[str]] = mapped_column(ARRAY(String(120)), nullable=False, default=list)
    dimensions: Mapped[str | None] = mapped_column(String(200))
    condition: Mapped[str] = mapped_column(String(20), nullable=False, default="new")
    region: Mapped[str | None] = mapped_column(String(80))
    # The site's position rounded to about a kilometre: enough for distance.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)


class SpareAlternate(IdMixin, TimestampMixin, TenantScoped, Base):
    """An interchangeable part (same function, other maker or number): shown
    beside the part, never substituted without the buyer's approval."""

    __tablename__ = "spares_alternates"
    part_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spares_parts.id", ondelete="CASCADE"), nullable=False,
                                               index=True)
    manufacturer: Mapped[str | None] = mapped_column(String(120))
    part_number: Mapped[str] = mapped_column(String(80), nullable=False)
    part_number_norm: Mapped[str] = mapped_column(String(80), nullable=False)
    note: Mapped[str | None] = mapped_column(String(300))


class SpareAttachment(IdMixin, TimestampMixin, TenantScoped, Base):
    """A drawing, photo, certificate or inspection report of a part, in the
    file storage. `shared` ones go with the listing to those who see it."""

    __tablename__ = "spares_attachments"
    part_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spares_parts.id", ondelete="CASCADE"), nullable=False,
                                               index=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    content_type: Mapped[str] = mapped_column(String(120), nullable=False)
    size: Mapped[int | None] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(300), nullable=False)
    shared: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # False until the file is in storage (a presigned upload confirms later).
    stored: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SpareStockMove(IdMixin, TenantScoped, Base):
    """Every change of a part's quantity, so the stock always adds up."""

    __tablename__ = "spares_stock_moves"
    part_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spares_parts.id", ondelete="CASCADE"), nullable=False,
                                               index=True)
    delta: Mapped[int] = mapped_column(Integer, nullable=False)
    quantity_after: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(30), nullable=False)
    request_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    note: Mapped[str | None] = mapped_column(String(300))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now())


class SpareRequest(IdMixin, TimestampMixin, Base):
    """One request line between two companies: `tenant_id` holds the part,
    `requester_tenant_id` asks for it. Both read and act on the same row."""

    __tablename__ = "spares_requests"
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)  # the holder
    requester_tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    listing_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    number: Mapped[str] = mapped_column(String(30), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    urgency: Mapped[str] = mapped_column(String(20), nullable=False, default="routine")
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=REQUESTED, index=True)
    # What was asked for, as listed then (the listing may change later).
    part_label: Mapped[str] = mapped_column(String(300), nullable=False)
    part_number: Mapped[str] = mapped_column(String(80), nullable=False)
    manufacturer: Mapped[str | None] = mapped_column(String(120))
    condition: Mapped[str] = mapped_column(String(20), nullable=False)
    # The price agreed or offered: per unit (buy), fee (exchange), per day (borrow).
    unit_price: Mapped[Decimal | None] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    core_return_days: Mapped[int | None] = mapped_column(Integer)
    loan_days: Mapped[int | None] = mapped_column(Integer)
    needed_by: Mapped[date | None] = mapped_column(Date)
    # A counter-offer (by the holder) awaiting the requester.
    offer_price: Mapped[Decimal | None] = mapped_column(MONEY)
    offer_quantity: Mapped[int | None] = mapped_column(Integer)
    offer_alternate: Mapped[str | None] = mapped_column(String(300))
    offer_note: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    first_reply_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    return_due: Mapped[date | None] = mapped_column(Date)
    return_shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    tracking: Mapped[str | None] = mapped_column(String(120))
    return_tracking: Mapped[str | None] = mapped_column(String(120))
    # The requester's part the received units went into (its own stock).
    requester_part_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    settlement: Mapped[str] = mapped_column(String(20), nullable=False, default="offline")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


class SpareReservation(Base):
    """Units a request holds at the holder (same id as the request) while it
    is requested, countered or accepted. Whoever may see the listing sees
    the sum (its availability), never who holds it; either party of the
    request adds, changes or removes the row."""

    __tablename__ = "spares_reservations"
    id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spares_requests.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)  # the holder
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spares_listings.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)


class SpareRequestMessage(IdMixin, Base):
    """The conversation of a request, and each of its system events."""

    __tablename__ = "spares_request_messages"
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)  # the holder
    requester_tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spares_requests.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    author_tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(10), nullable=False, default="message")  # message | event
    event: Mapped[str | None] = mapped_column(String(30))
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now())


class SpareRating(IdMixin, Base):
    """One side's rating of the other after a request (1-5)."""

    __tablename__ = "spares_ratings"
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)  # the holder
    requester_tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spares_requests.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    rater_tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    rated_tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now())


class SpareHolderStats(TimestampMixin, Base):
    """A company's standing as a holder, shown on its listings: median
    first-reply time and ratings. Kept by the outbox relay."""

    __tablename__ = "spares_holder_stats"
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    median_first_reply_s: Mapped[float | None] = mapped_column(Float)
    replies: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rating_avg: Mapped[float | None] = mapped_column(Float)
    ratings: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class SpareNotification(IdMixin, TenantScoped, Base):
    """An in-app notice to a company about a request (made by the relay)."""

    __tablename__ = "spares_notifications"
    request_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    event: Mapped[str] = mapped_column(String(30), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SpareWanted(IdMixin, TimestampMixin, TenantScoped, Base):
    """A "wanted" post: a part nobody shares, asked of the alliance."""

    __tablename__ = "spares_wanted"
    part_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("spares_parts.id", ondelete="SET NULL"))
    part_number: Mapped[str] = mapped_column(String(80), nullable=False)
    part_number_norm: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    manufacturer: Mapped[str | None] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    needed_by: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")
    region: Mapped[str | None] = mapped_column(String(80))


# Payment states of a request line paid online (Stripe Connect).
PAYMENT_DUE, PAYMENT_PENDING, PAYMENT_PAID = "due", "pending", "paid"
PAYMENT_REFUNDED, PAYMENT_CANCELLED = "refunded", "cancelled"


class SparePaymentAccount(TimestampMixin, Base):
    """A selling company's Stripe Connect (Express) account, and what Stripe
    last said of it: it can be paid once `charges_enabled`."""

    __tablename__ = "spares_payment_accounts"
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    stripe_account_id: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    charges_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    details_submitted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SparePayment(TimestampMixin, Base):
    """The online payment of one request line (same id as the request),
    which both companies see: a destination charge to the holder's connected
    account through Checkout, less the platform's fee."""

    __tablename__ = "spares_payments"
    id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spares_requests.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)  # the holder
    requester_tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=PAYMENT_DUE)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fee_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    destination_account: Mapped[str] = mapped_column(String(255), nullable=False)
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), index=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    refund_id: Mapped[str | None] = mapped_column(String(255))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
