"""Marshmallow schemas for the inventory API: shapes and types only; the
rules (stock never negative, no double booking, no cycles) are in services."""
from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from marshmallow import fields, validate

from .models import (
    COIL_STATUSES,
    LOCATION_KINDS,
    MOVE_KINDS,
    NODE_KINDS,
    RESERVATION_STATUSES,
    SHIPMENT_STATUSES,
)

_finite = {"allow_nan": False}
_weight = validate.Range(min=0, min_inclusive=False, max=1e9)
_size = validate.Range(min=0, min_inclusive=False, max=1e6)
_code = validate.Length(min=1, max=60)
_text = validate.Length(max=2000)


def _opt_str(length: int = 200, **kw):
    return fields.String(allow_none=True, load_default=None, validate=validate.Length(max=length), **kw)


# ---------------------------------------------------------------- warehouses and locations

class WarehouseSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    site_id = fields.UUID(required=True)
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name = fields.String(required=True, validate=validate.Length(min=1, max=160))
    address = _opt_str(1000)
    active = fields.Boolean(load_default=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class WarehouseUpdateSchema(ma.Schema):
    site_id = fields.UUID()
    code = fields.String(validate=validate.Length(min=1, max=40))
    name = fields.String(validate=validate.Length(min=1, max=160))
    address = fields.String(allow_none=True, validate=validate.Length(max=1000))
    active = fields.Boolean()


class WarehouseFilterSchema(ma.Schema):
    site_id = fields.UUID()
    active = fields.Boolean()


class StockLocationSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    warehouse_id = fields.UUID(dump_only=True)
    warehouse_code = fields.String(dump_only=True, attribute="warehouse.code")
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name = _opt_str(160)
    kind = fields.String(load_default="storage", validate=validate.OneOf(LOCATION_KINDS))
    capacity_coils = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=0, max=1_000_000),
                                    metadata={"description": "At most this many coils; empty for no limit"})
    capacity_kg = fields.Float(allow_none=True, load_default=None, validate=validate.Range(min=0, max=1e9), **_finite,
                               metadata={"description": "At most this weight; empty for no limit"})
    active = fields.Boolean(load_default=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class StockLocationUpdateSchema(ma.Schema):
    code = fields.String(validate=validate.Length(min=1, max=40))
    name = fields.String(allow_none=True, validate=validate.Length(max=160))
    kind = fields.String(validate=validate.OneOf(LOCATION_KINDS))
    capacity_coils = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=1_000_000))
    capacity_kg = fields.Float(allow_none=True, validate=validate.Range(min=0, max=1e9), **_finite)
    active = fields.Boolean()


# ---------------------------------------------------------------- heats and lots

class HeatSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    heat_no = fields.String(required=True, validate=_code)
    alloy = fields.String(required=True, validate=validate.Length(min=1, max=20))
    chemistry = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=3)),
                            values=fields.Float(validate=validate.Range(min=0, max=100), **_finite),
                            load_default=dict, metadata={"description": "Element symbol -> mass %", "example":
                                                         {"Si": 0.08, "Fe": 0.25, "Mg": 2.5}})
    cast_at = fields.AwareDateTime(allow_none=True, load_default=None, default_timezone=UTC)
    weight_kg = fields.Float(allow_none=True, load_default=None, validate=_weight, **_finite)
    site_id = fields.UUID(allow_none=True, load_default=None)
    unit_id = fields.UUID(allow_none=True, load_default=None, metadata={"description": "The caster (equipment unit)"})
    supplier = _opt_str(200)
    notes = _opt_str(2000)
    created_at = fields.DateTime(dump_only=True)


class HeatFilterSchema(ma.Schema):
    alloy = fields.String(validate=validate.Length(max=20))
    q = fields.String(validate=validate.Length(max=60), metadata={"description": "Heat number starts with"})


class LotSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    lot_no = fields.String(required=True, validate=_code)
    heat_id = fields.UUID(allow_none=True, load_default=None)
    alloy = _opt_str(20)
    temper = _opt_str(20)
    gauge_mm = fields.Float(allow_none=True, load_default=None, validate=_size, **_finite)
    width_mm = fields.Float(allow_none=True, load_default=None, validate=_size, **_finite)
    product_id = fields.UUID(allow_none=True, load_default=None)
    order_line_id = fields.UUID(allow_none=True, load_default=None)
    notes = _opt_str(2000)
    created_at = fields.DateTime(dump_only=True)


class LotFilterSchema(ma.Schema):
    heat_id = fields.UUID()
    q = fields.String(validate=validate.Length(max=60), metadata={"description": "Lot number starts with"})


class StockCountSchema(ma.Schema):
    coils = fields.Integer()
    weight_kg = fields.Float()


class LotStockSchema(ma.Schema):
    lot_id = fields.UUID(attribute="lot.id")
    lot_no = fields.String(attribute="lot.lot_no")
    alloy = fields.String(attribute="lot.alloy", allow_none=True)
    coils = fields.Integer(metadata={"description": "Coils in stock (available, reserved, quarantined)"})
    weight_kg = fields.Float(metadata={"description": "Weight in stock"})
    by_status = fields.Dict(keys=fields.String(), values=fields.Nested(StockCountSchema))


class LotStockListSchema(ma.Schema):
    items = fields.List(fields.Nested(LotStockSchema), required=True)


# ---------------------------------------------------------------- coils

class CoilSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    coil_no = fields.String()
    lot_id = fields.UUID(allow_none=True)
    lot_no = fields.String(attribute="lot.lot_no", allow_none=True)
    heat_id = fields.UUID(allow_none=True)
    heat_no = fields.String(attribute="heat.heat_no", allow_none=True)
    alloy = fields.String()
    temper = fields.String(allow_none=True)
    gauge_mm = fields.Float()
    width_mm = fields.Float()
    weight_kg = fields.Float()
    initial_weight_kg = fields.Float()
    length_m = fields.Float(allow_none=True)
    status = fields.String(metadata={"description": " | ".join(COIL_STATUSES)})
    location_id = fields.UUID(allow_none=True)
    location = fields.String(attribute="location.label", allow_none=True)
    shipment_id = fields.UUID(allow_none=True)
    product_id = fields.UUID(allow_none=True)
    order_line_id = fields.UUID(allow_none=True, metadata={"description": "The order line it was made for"})
    work_order_id = fields.UUID(allow_none=True)
    unit_id = fields.UUID(allow_none=True, metadata={"description": "The unit it is issued to"})
    origin = fields.String()
    fifo_at = fields.DateTime()
    quarantine_reason = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CoilFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(COIL_STATUSES))
    in_stock = fields.Boolean(metadata={"description": "Only available, reserved and quarantined coils"})
    alloy = fields.String(validate=validate.Length(max=20))
    temper = fields.String(validate=validate.Length(max=20))
    location_id = fields.UUID()
    warehouse_id = fields.UUID()
    lot_id = fields.UUID()
    heat_id = fields.UUID()
    order_line_id = fields.UUID()
    gauge_min = fields.Float(validate=validate.Range(min=0, max=1e6), **_finite)
    gauge_max = fields.Float(validate=validate.Range(min=0, max=1e6), **_finite)
    width_min = fields.Float(validate=validate.Range(min=0, max=1e6), **_finite)
    width_max = fields.Float(validate=validate.Range(min=0, max=1e6), **_finite)
    q = fields.String(validate=validate.Length(max=60), metadata={"description": "Coil number starts with"})


class ReceiptCoilSchema(ma.Schema):
    coil_no = fields.String(required=True, validate=_code)
    alloy = fields.String(required=True, validate=validate.Length(min=1, max=20))
    temper = _opt_str(20)
    gauge_mm = fields.Float(required=True, validate=_size, **_finite)
    width_mm = fields.Float(required=True, validate=_size, **_finite)
    weight_kg = fields.Float(required=True, validate=_weight, **_finite)
    length_m = fields.Float(allow_none=True, load_default=None, validate=_size, **_finite)
    heat_id = fields.UUID(allow_none=True, load_default=None)
    heat_no = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=60),
                            metadata={"description": "A heat by number (made if new)"})
    lot_id = fields.UUID(allow_none=True, load_default=None)
    lot_no = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=60),
                           metadata={"description": "A lot by number (made if new)"})
    location_id = fields.UUID(allow_none=True, load_default=None,
                              metadata={"description": "Where this coil goes, if not the receipt's location"})
    product_id = fields.UUID(allow_none=True, load_default=None)
    order_line_id = fields.UUID(allow_none=True, load_default=None)
    notes = _opt_str(2000)


class ReceiptSchema(ma.Schema):
    location_id = fields.UUID(allow_none=True, load_default=None)
    reference = _opt_str(200, metadata={"description": "The supplier's delivery note, a transfer number, …"})
    coils = fields.List(fields.Nested(ReceiptCoilSchema), required=True, validate=validate.Length(min=1, max=500))


class CoilListSchema(ma.Schema):
    items = fields.List(fields.Nested(CoilSchema), required=True)


class CoilTransferSchema(ma.Schema):
    location_id = fields.UUID(required=True)
    reason = _opt_str(2000)


class CoilAdjustSchema(ma.Schema):
    weight_kg = fields.Float(allow_none=True, load_default=None, validate=validate.Range(min=-1e9, max=1e9),
                             **_finite, metadata={"description": "The new weight (or give delta_kg)"})
    delta_kg = fields.Float(allow_none=True, load_default=None, validate=validate.Range(min=-1e9, max=1e9),
                            **_finite, metadata={"description": "The change, + or -"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class CoilReasonSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class CoilIssueSchema(ma.Schema):
    unit_id = fields.UUID(allow_none=True, load_default=None)
    work_order_id = fields.UUID(allow_none=True, load_default=None)
    order_line_id = fields.UUID(allow_none=True, load_default=None,
                                metadata={"description": "The line the work is for (a coil reserved for it may go)"})
    reason = _opt_str(2000)


class MoveSchema(ma.Schema):
    id = fields.UUID()
    coil_id = fields.UUID()
    coil_no = fields.String(attribute="coil.coil_no")
    kind = fields.String(metadata={"description": " | ".join(MOVE_KINDS)})
    at = fields.DateTime()
    from_location_id = fields.UUID(allow_none=True)
    from_location = fields.String(attribute="from_location.label", allow_none=True)
    to_location_id = fields.UUID(allow_none=True)
    to_location = fields.String(attribute="to_location.label", allow_none=True)
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    weight_before_kg = fields.Float()
    weight_after_kg = fields.Float()
    weight_delta_kg = fields.Float()
    reason = fields.String(allow_none=True)
    shipment_id = fields.UUID(allow_none=True)
    event_id = fields.UUID(allow_none=True)
    order_line_id = fields.UUID(allow_none=True)
    work_order_id = fields.UUID(allow_none=True)
    unit_id = fields.UUID(allow_none=True)
    user_id = fields.UUID(allow_none=True)


class MoveFilterSchema(ma.Schema):
    coil_id = fields.UUID()
    kind = fields.String(validate=validate.OneOf(MOVE_KINDS))
    location_id = fields.UUID()
    since = fields.AwareDateTime(default_timezone=UTC)
    until = fields.AwareDateTime(default_timezone=UTC)


# ---------------------------------------------------------------- reservations and FIFO

class ReservationSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    coil_id = fields.UUID()
    coil_no = fields.String(attribute="coil.coil_no", dump_only=True)
    order_line_id = fields.UUID()
    status = fields.String(dump_only=True, metadata={"description": " | ".join(RESERVATION_STATUSES)})
    note = fields.String(allow_none=True)
    reserved_by = fields.UUID(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    ended_at = fields.DateTime(dump_only=True, allow_none=True)
    ended_by = fields.UUID(dump_only=True, allow_none=True)


class ReserveSchema(ma.Schema):
    coil_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=200))
    order_line_id = fields.UUID(required=True)
    note = _opt_str(2000)


class ReservationListSchema(ma.Schema):
    items = fields.List(fields.Nested(ReservationSchema), required=True)


class ReservationFilterSchema(ma.Schema):
    order_line_id = fields.UUID()
    coil_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(RESERVATION_STATUSES))


class ReservationReleaseSchema(ma.Schema):
    note = _opt_str(2000)


class FifoArgsSchema(ma.Schema):
    alloy = fields.String(required=True, validate=validate.Length(min=1, max=20))
    temper = fields.String(validate=validate.Length(max=20))
    gauge_mm = fields.Float(validate=_size, **_finite)
    gauge_tol_mm = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=1e6), **_finite)
    width_mm = fields.Float(validate=_size, **_finite)
    width_tol_mm = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=1e6), **_finite)
    quantity_kg = fields.Float(validate=_weight, **_finite,
                               metadata={"description": "Stop once the coils add up to this weight"})
    max_coils = fields.Integer(validate=validate.Range(min=1, max=200))
    warehouse_id = fields.UUID()


class FifoCoilSchema(ma.Schema):
    coil = fields.Nested(CoilSchema)
    cumulative_kg = fields.Float()


class FifoSchema(ma.Schema):
    items = fields.List(fields.Nested(FifoCoilSchema), required=True)
    total_kg = fields.Float()
    quantity_kg = fields.Float(allow_none=True)
    covered = fields.Boolean(metadata={"description": "Whether the coils reach the quantity asked for"})


class OrderLineCoilSchema(ma.Schema):
    coil_id = fields.UUID()
    coil_no = fields.String()
    status = fields.String()
    weight_kg = fields.Float()
    alloy = fields.String()
    temper = fields.String(allow_none=True)
    gauge_mm = fields.Float()
    width_mm = fields.Float()
    location = fields.String(allow_none=True)
    warehouse = fields.String(allow_none=True)
    reserved = fields.Boolean()
    shipment_id = fields.UUID(allow_none=True)
    shipment_no = fields.String(allow_none=True)
    shipment_status = fields.String(allow_none=True)


class OrderLineLocationSchema(ma.Schema):
    order_line_id = fields.UUID()
    coils = fields.List(fields.Nested(OrderLineCoilSchema))
    summary = fields.Dict(keys=fields.String(), values=fields.Nested(StockCountSchema))
    total_weight_kg = fields.Float()


class OrderLineLocationArgsSchema(ma.Schema):
    order_line_id = fields.UUID(required=True)
    include_consumed = fields.Boolean(load_default=False)


# ---------------------------------------------------------------- shipments

class ShipmentItemSchema(ma.Schema):
    coil_id = fields.UUID()
    coil_no = fields.String(attribute="coil.coil_no")
    order_line_id = fields.UUID(allow_none=True)
    weight_kg = fields.Float(allow_none=True, metadata={"description": "As shipped (set on confirmation)"})
    current_weight_kg = fields.Float(attribute="coil.weight_kg")
    coil_status = fields.String(attribute="coil.status")
    added_at = fields.DateTime()


class ShipmentSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    shipment_no = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=40),
                                metadata={"description": "Given, or numbered SHyymmdd-nnn"})
    customer_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    customer_ref = _opt_str(120)
    order_id = fields.UUID(allow_none=True, load_default=None)
    warehouse_id = fields.UUID(allow_none=True, load_default=None)
    ship_to = _opt_str(1000)
    carrier = _opt_str(120)
    vehicle_no = _opt_str(40)
    planned_date = fields.Date(allow_none=True, load_default=None)
    notes = _opt_str(2000)
    status = fields.String(dump_only=True, metadata={"description": " | ".join(SHIPMENT_STATUSES)})
    shipped_at = fields.DateTime(dump_only=True, allow_none=True)
    delivered_at = fields.DateTime(dump_only=True, allow_none=True)
    received_by = fields.String(dump_only=True, allow_none=True)
    delivery_note = fields.String(dump_only=True, allow_none=True)
    items = fields.List(fields.Nested(ShipmentItemSchema), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class ShipmentUpdateSchema(ma.Schema):
    customer_name = fields.String(validate=validate.Length(min=1, max=200))
    customer_ref = fields.String(allow_none=True, validate=validate.Length(max=120))
    order_id = fields.UUID(allow_none=True)
    warehouse_id = fields.UUID(allow_none=True)
    ship_to = fields.String(allow_none=True, validate=validate.Length(max=1000))
    carrier = fields.String(allow_none=True, validate=validate.Length(max=120))
    vehicle_no = fields.String(allow_none=True, validate=validate.Length(max=40))
    planned_date = fields.Date(allow_none=True)
    notes = fields.String(allow_none=True, validate=_text)


class ShipmentFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(SHIPMENT_STATUSES))
    q = fields.String(validate=validate.Length(max=100), metadata={"description": "Number or customer contains"})
    order_id = fields.UUID()


class ShipmentAddItemSchema(ma.Schema):
    coil_id = fields.UUID(allow_none=True, load_default=None)
    coil_no = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=500),
                            metadata={"description": "A coil number, or a scanned label's URL, instead of coil_id"})
    order_line_id = fields.UUID(allow_none=True, load_default=None)


class ShipmentDeliverSchema(ma.Schema):
    received_by = _opt_str(200)
    note = _opt_str(2000)
    delivered_at = fields.AwareDateTime(allow_none=True, load_default=None, default_timezone=UTC)


class ShipmentCancelSchema(ma.Schema):
    reason = _opt_str(2000)


class PackingListRowSchema(ma.Schema):
    n = fields.Integer()
    coil_id = fields.UUID()
    coil_no = fields.String()
    lot_no = fields.String(allow_none=True)
    heat_no = fields.String(allow_none=True)
    alloy = fields.String()
    temper = fields.String(allow_none=True)
    gauge_mm = fields.Float()
    width_mm = fields.Float()
    length_m = fields.Float(allow_none=True)
    weight_kg = fields.Float()
    order_line_id = fields.UUID(allow_none=True)


class PackingListSchema(ma.Schema):
    shipment_no = fields.String(attribute="shipment.shipment_no")
    customer_name = fields.String(attribute="shipment.customer_name")
    status = fields.String(attribute="shipment.status")
    rows = fields.List(fields.Nested(PackingListRowSchema))
    coils = fields.Integer()
    total_weight_kg = fields.Float()


# ---------------------------------------------------------------- genealogy and production

class GenealogyNodeSchema(ma.Schema):
    kind = fields.String()
    id = fields.UUID()
    label = fields.String()
    alloy = fields.String(allow_none=True)
    temper = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    weight_kg = fields.Float(allow_none=True)
    gauge_mm = fields.Float(allow_none=True)
    width_mm = fields.Float(allow_none=True)
    depth = fields.Integer(metadata={"description": "Steps away from the node asked about"})


class GenealogyGraphLinkSchema(ma.Schema):
    id = fields.UUID()
    parent_kind = fields.String()
    parent_id = fields.UUID()
    parent_label = fields.String(allow_none=True)
    child_kind = fields.String()
    child_id = fields.UUID()
    child_label = fields.String(allow_none=True)
    operation = fields.String()
    unit_id = fields.UUID(allow_none=True)
    work_order_id = fields.UUID(allow_none=True)
    event_id = fields.UUID(allow_none=True)
    at = fields.DateTime()
    weight_kg = fields.Float(allow_none=True)
    depth = fields.Integer()


class GenealogyStepSchema(ma.Schema):
    operation = fields.String()
    unit_id = fields.UUID(allow_none=True)
    work_order_id = fields.UUID(allow_none=True)
    event_id = fields.UUID(allow_none=True)
    at = fields.DateTime()
    inputs = fields.List(fields.String())
    outputs = fields.List(fields.String())


class GenealogyRootSchema(GenealogyNodeSchema):
    class Meta:
        exclude = ("depth",)


class GenealogyGraphSchema(ma.Schema):
    root = fields.Nested(GenealogyRootSchema)
    nodes = fields.List(fields.Nested(GenealogyNodeSchema))
    links = fields.List(fields.Nested(GenealogyGraphLinkSchema))
    route = fields.List(fields.Nested(GenealogyStepSchema),
                        metadata={"description": "The operations, units and times, in the order they happened"})
    coils = fields.List(fields.Nested(GenealogyNodeSchema), metadata={"description": "Descendant coils (descendants only)"})


class GenealogyLinkSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    parent_kind = fields.String(required=True, validate=validate.OneOf(NODE_KINDS))
    parent_id = fields.UUID(required=True)
    child_kind = fields.String(required=True, validate=validate.OneOf(NODE_KINDS))
    child_id = fields.UUID(required=True)
    operation = fields.String(required=True, validate=validate.Length(min=1, max=60))
    unit_id = fields.UUID(allow_none=True, load_default=None)
    work_order_id = fields.UUID(allow_none=True, load_default=None)
    event_id = fields.UUID(dump_only=True, allow_none=True)
    at = fields.AwareDateTime(allow_none=True, load_default=None, default_timezone=UTC)
    weight_kg = fields.Float(allow_none=True, load_default=None, validate=_weight, **_finite)
    note = _opt_str(2000)


class GenealogyLinkFilterSchema(ma.Schema):
    node_id = fields.UUID()
    kind = fields.String(validate=validate.OneOf(NODE_KINDS))
    operation = fields.String(validate=validate.Length(max=60))


class ProductionInputSchema(ma.Schema):
    coil_id = fields.UUID(allow_none=True, load_default=None)
    heat_id = fields.UUID(allow_none=True, load_default=None)
    weight_kg = fields.Float(allow_none=True, load_default=None, validate=_weight, **_finite,
                             metadata={"description": "Consumed; a coil's whole weight when empty"})


class ProductionOutputSchema(ma.Schema):
    coil_no = fields.String(required=True, validate=_code)
    weight_kg = fields.Float(required=True, validate=_weight, **_finite)
    gauge_mm = fields.Float(required=True, validate=_size, **_finite)
    width_mm = fields.Float(required=True, validate=_size, **_finite)
    alloy = _opt_str(20)
    temper = _opt_str(20)
    length_m = fields.Float(allow_none=True, load_default=None, validate=_size, **_finite)
    location_id = fields.UUID(allow_none=True, load_default=None)
    lot_id = fields.UUID(allow_none=True, load_default=None)
    order_line_id = fields.UUID(allow_none=True, load_default=None)
    product_id = fields.UUID(allow_none=True, load_default=None)
    notes = _opt_str(2000)


class ProductionScrapSchema(ma.Schema):
    weight_kg = fields.Float(required=True, validate=_weight, **_finite)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ProductionStepSchema(ma.Schema):
    operation = fields.String(required=True, validate=validate.Length(min=1, max=60))
    inputs = fields.List(fields.Nested(ProductionInputSchema), required=True, validate=validate.Length(min=1, max=100))
    outputs = fields.List(fields.Nested(ProductionOutputSchema), load_default=list,
                          validate=validate.Length(max=200))
    scrap = fields.List(fields.Nested(ProductionScrapSchema), load_default=list, validate=validate.Length(max=50))
    unit_id = fields.UUID(allow_none=True, load_default=None)
    work_order_id = fields.UUID(allow_none=True, load_default=None)
    order_line_id = fields.UUID(allow_none=True, load_default=None)
    product_id = fields.UUID(allow_none=True, load_default=None)
    location_id = fields.UUID(allow_none=True, load_default=None,
                              metadata={"description": "Where the outputs go; empty: they stay at the unit"})
    at = fields.AwareDateTime(allow_none=True, load_default=None, default_timezone=UTC)
    note = _opt_str(2000)


class ProductionEventSchema(ma.Schema):
    id = fields.UUID()
    operation = fields.String()
    unit_id = fields.UUID(allow_none=True)
    work_order_id = fields.UUID(allow_none=True)
    order_line_id = fields.UUID(allow_none=True)
    product_id = fields.UUID(allow_none=True)
    at = fields.DateTime()
    input_weight_kg = fields.Float()
    output_weight_kg = fields.Float()
    scrap_weight_kg = fields.Float()
    inputs = fields.List(fields.Dict())
    outputs = fields.List(fields.Dict())
    note = fields.String(allow_none=True)


class ProductionFilterSchema(ma.Schema):
    operation = fields.String(validate=validate.Length(max=60))
    order_line_id = fields.UUID()
    work_order_id = fields.UUID()


class YieldArgsSchema(ma.Schema):
    group_by = fields.String(load_default="operation",
                             validate=validate.OneOf(("operation", "order_line", "product", "unit")))
    since = fields.AwareDateTime(default_timezone=UTC)
    until = fields.AwareDateTime(default_timezone=UTC)


class YieldRowSchema(ma.Schema):
    key = fields.String(metadata={"description": "The operation, or the order line / product / unit id"})
    steps = fields.Integer()
    input_kg = fields.Float()
    output_kg = fields.Float()
    scrap_kg = fields.Float()
    loss_kg = fields.Float()
    yield_pct = fields.Float(allow_none=True)


class YieldSchema(ma.Schema):
    group_by = fields.String()
    items = fields.List(fields.Nested(YieldRowSchema))
