"""/api/v1/inventory: warehouses and locations, heats, lots and coils,
receipts and moves, reservations and FIFO suggestions, shipments with their
packing lists, genealogy, production steps and yield."""
from __future__ import annotations

import csv
import io

from flask import Response
from flask.views import MethodView

from alloyhub.platform.api import Blueprint, PageArgs, page_of, paginate
from alloyhub.platform.auth import requires

from . import schemas as s
from . import services
from .models import (
    Coil,
    GenealogyLink,
    Heat,
    Location,
    Lot,
    Move,
    ProductionEvent,
    Reservation,
    Shipment,
    Warehouse,
)
from .permissions import (
    INVENTORY_ADJUST,
    INVENTORY_CONFIGURE,
    INVENTORY_READ,
    INVENTORY_SHIP,
    INVENTORY_WRITE,
)

blp = Blueprint("inventory_api", __name__, url_prefix="/api/v1/inventory",
                description="Inventory and logistics: stock by coil, moves, reservations, shipments, genealogy")

MOVE_PAGE = page_of(s.MoveSchema)

_CSV_DOC = {"200": {"description": "CSV file", "content": {"text/csv": {"schema": {"type": "string"}}}}}


def csv_response(filename: str, header: list[str], rows) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    # A BOM, so that Excel reads UTF-8 (Chinese customer names) right.
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# ---------------------------------------------------------------- warehouses and locations

@blp.route("/warehouses")
class Warehouses(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.WarehouseFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.WarehouseSchema))
    def get(self, args, site_id=None, active=None):
        """Warehouses, optionally of one site"""
        return paginate(services.warehouses_query(site_id, active), args, (Warehouse.code, Warehouse.id))

    @requires(INVENTORY_CONFIGURE)
    @blp.arguments(s.WarehouseSchema)
    @blp.response(201, s.WarehouseSchema)
    def post(self, data):
        """Add a warehouse at a site"""
        return services.create_warehouse(**data)


@blp.route("/warehouses/<uuid:warehouse_id>")
class WarehouseItem(MethodView):
    @requires(INVENTORY_READ)
    @blp.etag
    @blp.response(200, s.WarehouseSchema)
    def get(self, warehouse_id):
        """One warehouse"""
        return services.get_warehouse(warehouse_id)

    @requires(INVENTORY_CONFIGURE)
    @blp.etag
    @blp.arguments(s.WarehouseUpdateSchema)
    @blp.response(200, s.WarehouseSchema)
    def patch(self, data, warehouse_id):
        """Change a warehouse (send If-Match with its ETag)"""
        warehouse = services.get_warehouse(warehouse_id)
        blp.check_etag(warehouse, s.WarehouseSchema)
        return services.update_warehouse(warehouse, **data)


@blp.route("/warehouses/<uuid:warehouse_id>/locations")
class Locations(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.StockLocationSchema))
    def get(self, args, warehouse_id):
        """The locations of a warehouse"""
        warehouse = services.get_warehouse(warehouse_id)
        return paginate(services.locations_query(warehouse.id), args, (Location.code, Location.id))

    @requires(INVENTORY_CONFIGURE)
    @blp.arguments(s.StockLocationSchema)
    @blp.response(201, s.StockLocationSchema)
    def post(self, data, warehouse_id):
        """Add a location (with optional capacities) to a warehouse"""
        return services.create_location(services.get_warehouse(warehouse_id), **data)


@blp.route("/locations/<uuid:stock_location_id>")
class LocationItem(MethodView):
    @requires(INVENTORY_READ)
    @blp.etag
    @blp.response(200, s.StockLocationSchema)
    def get(self, stock_location_id):
        """One location"""
        return services.get_location(stock_location_id)

    @requires(INVENTORY_CONFIGURE)
    @blp.etag
    @blp.arguments(s.StockLocationUpdateSchema)
    @blp.response(200, s.StockLocationSchema)
    def patch(self, data, stock_location_id):
        """Change a location (send If-Match with its ETag)"""
        location = services.get_location(stock_location_id)
        blp.check_etag(location, s.StockLocationSchema)
        return services.update_location(location, **data)


# ---------------------------------------------------------------- heats and lots

@blp.route("/heats")
class Heats(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.HeatFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.HeatSchema))
    def get(self, args, alloy=None, q=None):
        """Heats (casts)"""
        return paginate(services.heats_query(alloy, q), args, (Heat.created_at, Heat.id), descending=True)

    @requires(INVENTORY_WRITE)
    @blp.arguments(s.HeatSchema)
    @blp.response(201, s.HeatSchema)
    def post(self, data):
        """Record a heat: number, alloy, chemistry (element -> mass %), cast time, weight"""
        return services.create_heat(**data)


@blp.route("/heats/<uuid:heat_id>")
class HeatItem(MethodView):
    @requires(INVENTORY_READ)
    @blp.response(200, s.HeatSchema)
    def get(self, heat_id):
        """One heat"""
        return services.get_heat(heat_id)


@blp.route("/heats/<uuid:heat_id>/descendants")
class HeatDescendants(MethodView):
    @requires(INVENTORY_READ)
    @blp.response(200, s.GenealogyGraphSchema)
    def get(self, heat_id):
        """Every lot and coil that came from the heat, with the links and steps between"""
        heat = services.get_heat(heat_id)
        return services.descendants("heat", heat.id)


@blp.route("/lots")
class Lots(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.LotFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.LotSchema))
    def get(self, args, heat_id=None, q=None):
        """Lots"""
        return paginate(services.lots_query(heat_id, q), args, (Lot.created_at, Lot.id), descending=True)

    @requires(INVENTORY_WRITE)
    @blp.arguments(s.LotSchema)
    @blp.response(201, s.LotSchema)
    def post(self, data):
        """Open a lot (a group of coils with a nominal description)"""
        return services.create_lot(**data)


@blp.route("/lots/<uuid:lot_id>")
class LotItem(MethodView):
    @requires(INVENTORY_READ)
    @blp.response(200, s.LotSchema)
    def get(self, lot_id):
        """One lot"""
        return services.get_lot(lot_id)


@blp.route("/lots/<uuid:lot_id>/descendants")
class LotDescendants(MethodView):
    @requires(INVENTORY_READ)
    @blp.response(200, s.GenealogyGraphSchema)
    def get(self, lot_id):
        """Everything linked downstream of a lot"""
        lot = services.get_lot(lot_id)
        return services.descendants("lot", lot.id)


@blp.route("/stock/lots")
class StockByLot(MethodView):
    @requires(INVENTORY_READ)
    @blp.response(200, s.LotStockListSchema)
    def get(self):
        """Stock by lot: coils and weight in stock, and by status"""
        return {"items": services.stock_by_lot()}


# ---------------------------------------------------------------- coils and moves

@blp.route("/coils")
class Coils(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.CoilFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.CoilSchema))
    def get(self, args, **filters):
        """Coils (the stock) with filters: status, alloy, temper, location, warehouse, lot, heat, gauge and
        width ranges, number prefix; oldest first"""
        return paginate(services.coils_query(**filters), args, (Coil.fifo_at, Coil.id))


@blp.route("/receipts")
class Receipts(MethodView):
    @requires(INVENTORY_WRITE)
    @blp.arguments(s.ReceiptSchema)
    @blp.response(201, s.CoilListSchema)
    def post(self, data):
        """Receive coils into stock (all or none): each gets a receipt move"""
        coils = services.receive(data["coils"], location_id=data.get("location_id"), reference=data.get("reference"))
        return {"items": coils}


@blp.route("/coils/<uuid:coil_id>")
class CoilItem(MethodView):
    @requires(INVENTORY_READ)
    @blp.response(200, s.CoilSchema)
    def get(self, coil_id):
        """One coil"""
        return services.get_coil(coil_id)


@blp.route("/coils/by-number/<coil_no>")
class CoilByNumber(MethodView):
    @requires(INVENTORY_READ)
    @blp.response(200, s.CoilSchema)
    def get(self, coil_no):
        """A coil by its number (what a label's QR code carries)"""
        return services.get_coil_by_number(coil_no)


@blp.route("/coils/<uuid:coil_id>/transfer")
class CoilTransfer(MethodView):
    @requires(INVENTORY_WRITE)
    @blp.arguments(s.CoilTransferSchema)
    @blp.response(200, s.CoilSchema)
    def post(self, data, coil_id):
        """Move a coil to another location (a coil issued to production comes back this way)"""
        return services.transfer(services.get_coil(coil_id), data["location_id"], data.get("reason"))


@blp.route("/coils/<uuid:coil_id>/adjust")
class CoilAdjust(MethodView):
    @requires(INVENTORY_ADJUST)
    @blp.arguments(s.CoilAdjustSchema)
    @blp.response(200, s.CoilSchema)
    def post(self, data, coil_id):
        """Correct a coil's weight, with a reason (never below zero; audited)"""
        return services.adjust(services.get_coil(coil_id), **data)


@blp.route("/coils/<uuid:coil_id>/quarantine")
class CoilQuarantine(MethodView):
    @requires(INVENTORY_ADJUST)
    @blp.arguments(s.CoilReasonSchema)
    @blp.response(200, s.CoilSchema)
    def post(self, data, coil_id):
        """Quarantine a coil (quality hold), with a reason; its reservation is released"""
        return services.quarantine(services.get_coil(coil_id), data["reason"])


@blp.route("/coils/<uuid:coil_id>/release-quarantine")
class CoilReleaseQuarantine(MethodView):
    @requires(INVENTORY_ADJUST)
    @blp.arguments(s.CoilReasonSchema)
    @blp.response(200, s.CoilSchema)
    def post(self, data, coil_id):
        """Lift a coil's quarantine, with a reason"""
        return services.release_quarantine(services.get_coil(coil_id), data["reason"])


@blp.route("/coils/<uuid:coil_id>/issue")
class CoilIssue(MethodView):
    @requires(INVENTORY_WRITE)
    @blp.arguments(s.CoilIssueSchema)
    @blp.response(200, s.CoilSchema)
    def post(self, data, coil_id):
        """Issue a coil to production (a unit, a work order)"""
        return services.issue(services.get_coil(coil_id), **data)


@blp.route("/coils/<uuid:coil_id>/moves")
class CoilMoves(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, MOVE_PAGE)
    def get(self, args, coil_id):
        """Everything that happened to a coil, oldest first"""
        coil = services.get_coil(coil_id)
        return paginate(services.moves_query(coil_id=coil.id), args, (Move.at, Move.seq))


@blp.route("/coils/<uuid:coil_id>/ancestry")
class CoilAncestry(MethodView):
    @requires(INVENTORY_READ)
    @blp.response(200, s.GenealogyGraphSchema)
    def get(self, coil_id):
        """Everything the coil came from, up to its heats, with the operations, units and times"""
        coil = services.get_coil(coil_id)
        return services.ancestry("coil", coil.id)


@blp.route("/coils/<uuid:coil_id>/descendants")
class CoilDescendants(MethodView):
    @requires(INVENTORY_READ)
    @blp.response(200, s.GenealogyGraphSchema)
    def get(self, coil_id):
        """Everything made from the coil"""
        coil = services.get_coil(coil_id)
        return services.descendants("coil", coil.id)


@blp.route("/moves")
class Moves(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.MoveFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, MOVE_PAGE)
    def get(self, args, **filters):
        """The stock ledger (append-only), newest first"""
        return paginate(services.moves_query(**filters), args, (Move.at, Move.seq), descending=True)


# ---------------------------------------------------------------- reservations, FIFO, order lines

@blp.route("/reservations")
class Reservations(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.ReservationFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.ReservationSchema))
    def get(self, args, **filters):
        """Reservations of coils for order lines"""
        return paginate(services.reservations_query(**filters), args, (Reservation.created_at, Reservation.id),
                        descending=True)

    @requires(INVENTORY_WRITE)
    @blp.arguments(s.ReserveSchema)
    @blp.response(201, s.ReservationListSchema)
    def post(self, data):
        """Reserve coils for an order line (all or none; 409 when a coil is booked already)"""
        return {"items": services.reserve(data["coil_ids"], data["order_line_id"], data.get("note"))}


@blp.route("/reservations/<uuid:reservation_id>")
class ReservationItem(MethodView):
    @requires(INVENTORY_READ)
    @blp.response(200, s.ReservationSchema)
    def get(self, reservation_id):
        """One reservation"""
        return services.get_reservation(reservation_id)


@blp.route("/reservations/<uuid:reservation_id>/release")
class ReservationRelease(MethodView):
    @requires(INVENTORY_WRITE)
    @blp.arguments(s.ReservationReleaseSchema)
    @blp.response(200, s.ReservationSchema)
    def post(self, data, reservation_id):
        """Release a reservation: the coil is free stock again"""
        return services.release(services.get_reservation(reservation_id), data.get("note"))


@blp.route("/fifo")
class Fifo(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(s.FifoArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, s.FifoSchema)
    def get(self, **spec):
        """Available coils matching a spec (alloy, temper, gauge and width within tolerance), oldest first"""
        return services.fifo_suggestions(**spec)


@blp.route("/line-location")
class LineLocation(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(s.OrderLineLocationArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, s.OrderLineLocationSchema)
    def get(self, order_line_id, include_consumed=False):
        """Where an order line's coils are now: status, location, shipment"""
        return services.line_location(order_line_id, include_consumed=include_consumed)


# ---------------------------------------------------------------- shipments

@blp.route("/shipments")
class Shipments(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.ShipmentFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.ShipmentSchema))
    def get(self, args, **filters):
        """Shipments, newest first"""
        return paginate(services.shipments_query(**filters), args, (Shipment.created_at, Shipment.id),
                        descending=True)

    @requires(INVENTORY_SHIP)
    @blp.arguments(s.ShipmentSchema)
    @blp.response(201, s.ShipmentSchema)
    def post(self, data):
        """Draft a shipment for a customer (and order)"""
        return services.create_shipment(**data)


@blp.route("/shipments/<uuid:shipment_id>")
class ShipmentItemView(MethodView):
    @requires(INVENTORY_READ)
    @blp.etag
    @blp.response(200, s.ShipmentSchema)
    def get(self, shipment_id):
        """One shipment with its coils"""
        return services.get_shipment(shipment_id)

    @requires(INVENTORY_SHIP)
    @blp.etag
    @blp.arguments(s.ShipmentUpdateSchema)
    @blp.response(200, s.ShipmentSchema)
    def patch(self, data, shipment_id):
        """Change a draft shipment (send If-Match with its ETag)"""
        shipment = services.get_shipment(shipment_id)
        blp.check_etag(shipment, s.ShipmentSchema)
        return services.update_shipment(shipment, **data)


@blp.route("/shipments/<uuid:shipment_id>/items")
class ShipmentItems(MethodView):
    @requires(INVENTORY_SHIP)
    @blp.arguments(s.ShipmentAddItemSchema)
    @blp.response(201, s.ShipmentSchema)
    def post(self, data, shipment_id):
        """Put a coil on a draft shipment (by id, number or scanned label)"""
        shipment = services.get_shipment(shipment_id)
        coil_id = data.get("coil_id")
        if coil_id is None and data.get("coil_no"):
            coil_id = services.scanned_coil(data["coil_no"]).id
        services.add_to_shipment(shipment, coil_id, data.get("order_line_id"))
        return services.get_shipment(shipment_id)


@blp.route("/shipments/<uuid:shipment_id>/items/<uuid:coil_id>")
class ShipmentItemDelete(MethodView):
    @requires(INVENTORY_SHIP)
    @blp.response(200, s.ShipmentSchema)
    def delete(self, shipment_id, coil_id):
        """Take a coil off a draft shipment"""
        shipment = services.get_shipment(shipment_id)
        coil = services.get_coil(coil_id)
        return services.remove_from_shipment(shipment, coil.id)


@blp.route("/shipments/<uuid:shipment_id>/confirm")
class ShipmentConfirm(MethodView):
    @requires(INVENTORY_SHIP)
    @blp.response(200, s.ShipmentSchema)
    def post(self, shipment_id):
        """Confirm: every coil leaves stock (shipped) or none does (409 naming the coil)"""
        return services.confirm_shipment(services.get_shipment(shipment_id))


@blp.route("/shipments/<uuid:shipment_id>/deliver")
class ShipmentDeliver(MethodView):
    @requires(INVENTORY_SHIP)
    @blp.arguments(s.ShipmentDeliverSchema)
    @blp.response(200, s.ShipmentSchema)
    def post(self, data, shipment_id):
        """Confirm delivery (who received it, when)"""
        return services.deliver_shipment(services.get_shipment(shipment_id), **data)


@blp.route("/shipments/<uuid:shipment_id>/cancel")
class ShipmentCancel(MethodView):
    @requires(INVENTORY_SHIP)
    @blp.arguments(s.ShipmentCancelSchema)
    @blp.response(200, s.ShipmentSchema)
    def post(self, data, shipment_id):
        """Cancel a draft shipment: its coils stay in stock"""
        return services.cancel_shipment(services.get_shipment(shipment_id), data.get("reason"))


@blp.route("/shipments/<uuid:shipment_id>/packing-list")
class PackingList(MethodView):
    @requires(INVENTORY_READ)
    @blp.response(200, s.PackingListSchema)
    def get(self, shipment_id):
        """The packing list: each coil with its lot, heat, size and weight, and the totals"""
        return services.packing_list(services.get_shipment(shipment_id))


@blp.route("/shipments/<uuid:shipment_id>/packing-list.csv")
class PackingListCsv(MethodView):
    @requires(INVENTORY_READ)
    @blp.doc(responses=_CSV_DOC)
    def get(self, shipment_id):
        """The packing list as CSV"""
        shipment = services.get_shipment(shipment_id)
        header, rows = services.packing_list_rows(shipment)
        return csv_response(f"packing-list-{shipment.shipment_no}.csv", header, rows)


# ---------------------------------------------------------------- genealogy, production, yield

@blp.route("/genealogy/links")
class Links(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.GenealogyLinkFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.GenealogyLinkSchema))
    def get(self, args, **filters):
        """Genealogy links (parent -> child), optionally touching one node"""
        return paginate(services.links_query(**filters), args, (GenealogyLink.at, GenealogyLink.id))

    @requires(INVENTORY_WRITE)
    @blp.arguments(s.GenealogyLinkSchema)
    @blp.response(201, s.GenealogyLinkSchema)
    def post(self, data):
        """Link a parent (heat, lot, coil) to a child made from it; 422 when it would make a cycle"""
        return services.add_link(**data)


@blp.route("/production")
class Production(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.ProductionFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.ProductionEventSchema))
    def get(self, args, **filters):
        """Production steps reported, newest first"""
        return paginate(services.events_query(**filters), args, (ProductionEvent.at, ProductionEvent.id),
                        descending=True)

    @requires(INVENTORY_WRITE)
    @blp.arguments(s.ProductionStepSchema)
    @blp.response(201, s.ProductionEventSchema)
    def post(self, data):
        """Record a production step in one transaction: inputs consumed, output coils made with their
        genealogy, scrap with reasons"""
        return services.record_production_output(**data)


@blp.route("/production/<uuid:production_event_id>")
class ProductionItem(MethodView):
    @requires(INVENTORY_READ)
    @blp.response(200, s.ProductionEventSchema)
    def get(self, production_event_id):
        """One production step"""
        return services.get_event(production_event_id)


@blp.route("/yield")
class Yield(MethodView):
    @requires(INVENTORY_READ)
    @blp.arguments(s.YieldArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, s.YieldSchema)
    def get(self, group_by="operation", since=None, until=None):
        """Yield (output / input weight) per operation, order line, product or unit"""
        return {"group_by": group_by, "items": services.yields(group_by, since=since, until=until)}
