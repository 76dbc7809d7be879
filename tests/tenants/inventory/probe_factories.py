"""Factories for the inventory routes' arguments (the cross-tenant probe)."""
from __future__ import annotations

import secrets

from sqlalchemy import select

from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Site
from tests.probe import BODIES, as_owner, factory, pop


def _location(warehouse=None):
    from alloyhub.tenants.inventory import services

    if warehouse is None:
        site = db.session.scalar(select(Site).order_by(Site.created_at))
        warehouse = services.create_warehouse(site_id=site.id, code=f"P{secrets.token_hex(3)}", name="Probe")
    return services.create_location(warehouse, code=f"L{secrets.token_hex(3)}")


def _coil():
    from alloyhub.tenants.inventory import services

    (coil,) = services.receive([{"coil_no": f"PROBE-{secrets.token_hex(4)}", "alloy": "3003", "gauge_mm": 1.0,
                                 "width_mm": 1000, "weight_kg": 1000, "heat_no": f"PH-{secrets.token_hex(3)}"}],
                               location_id=_location().id)
    return coil


@factory("warehouse_id")
def make_warehouse(app, made):
    ctx = as_owner(app, made)
    try:
        return _location().warehouse_id
    finally:
        pop(ctx)


@factory("stock_location_id")
def make_location(app, made):
    ctx = as_owner(app, made)
    try:
        return _location().id
    finally:
        pop(ctx)


@factory("coil_id")
def make_coil(app, made):
    ctx = as_owner(app, made)
    try:
        return _coil().id
    finally:
        pop(ctx)


@factory("coil_no")
def make_coil_no(app, made):
    ctx = as_owner(app, made)
    try:
        return _coil().coil_no
    finally:
        pop(ctx)


@factory("heat_id")
def make_heat(app, made):
    from alloyhub.tenants.inventory import services

    ctx = as_owner(app, made)
    try:
        return services.create_heat(heat_no=f"PH-{secrets.token_hex(4)}", alloy="5052").id
    finally:
        pop(ctx)


@factory("lot_id")
def make_lot(app, made):
    from alloyhub.tenants.inventory import services

    ctx = as_owner(app, made)
    try:
        return services.create_lot(lot_no=f"PL-{secrets.token_hex(4)}", alloy="5052").id
    finally:
        pop(ctx)


@factory("reservation_id")
def make_reservation(app, made):
    import uuid

    from alloyhub.tenants.inventory import services

    ctx = as_owner(app, made)
    try:
        (reservation,) = services.reserve([_coil().id], uuid.uuid4())
        return reservation.id
    finally:
        pop(ctx)


@factory("shipment_id")
def make_shipment(app, made):
    from alloyhub.tenants.inventory import services

    ctx = as_owner(app, made)
    try:
        shipment = services.create_shipment(customer_name="Probe customer")
        services.add_to_shipment(shipment, _coil().id)
        return shipment.id
    finally:
        pop(ctx)


@factory("production_event_id")
def make_production_event(app, made):
    from alloyhub.tenants.inventory import services

    ctx = as_owner(app, made)
    try:
        coil = _coil()
        return services.record_production_output(
            inputs=[{"coil_id": coil.id}], operation="slit",
            outputs=[{"coil_no": f"PROBE-{secrets.token_hex(4)}", "weight_kg": 990, "gauge_mm": 1.0,
                      "width_mm": 500}]).id
    finally:
        pop(ctx)


# Bodies that pass argument parsing, so that the answer reflects the lookup.
BODIES.update({
    ("inventory_api.Locations", "POST"): {"code": "PROBE-1"},
    ("inventory_api.CoilTransfer", "POST"): {"location_id": "00000000-0000-0000-0000-000000000000"},
    ("inventory_api.CoilAdjust", "POST"): {"delta_kg": -1, "reason": "probe"},
    ("inventory_api.CoilQuarantine", "POST"): {"reason": "probe"},
    ("inventory_api.CoilReleaseQuarantine", "POST"): {"reason": "probe"},
    ("inventory.transfer", "POST"): {"location_id": "00000000-0000-0000-0000-000000000000"},
})
