"""Genealogy: heats, lots and coils linked parent -> child by the operation,
unit and time that made the child. One coil in and several out (slitting),
several in and one out (joining), a heat into coils (casting).

The links form a directed acyclic graph. A link between existing nodes is
checked under a per-company advisory lock (so two links made at once cannot
close a cycle between them): it is refused when the child is the parent or
one of its ancestors. Links to nodes made in the same step (production
output) cannot close a cycle, since a new node has no descendants.

Queries walk the graph with recursive CTEs: a coil's whole ancestry with the
operations, units and times it went through; every coil descended from a
heat; yield (output / input weight) per operation, order line and product.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from alloyhub.platform import outbox, tenancy
from alloyhub.platform.db import db, get_or_404, utcnow

from ..errors import (
    CoilUnavailable,
    DoubleBooking,
    GenealogyCycle,
    Invalid,
    NegativeStock,
)
from ..models import (
    AVAILABLE,
    CONSUMED,
    ISSUED,
    NODE_KINDS,
    RESERVED,
    Coil,
    GenealogyLink,
    Heat,
    Lot,
    ProductionEvent,
    Scrap,
)
from .common import EPS, clean, code_error, current_user_id, kg, positive, require
from .stock import (
    active_reservation,
    announce_move,
    coil_by_number,
    end_reservation,
    lock_coils,
    new_link,
    record_move,
    refuse_unless,
)
from .stock import save as commit_session
from .warehouses import check_capacity, lock_location

MODELS = {"heat": Heat, "lot": Lot, "coil": Coil}
MAX_DEPTH = 200  # far beyond any real route; a guard, not a rule
# Outputs plus scrap may exceed the input by this share (scales disagree a little).
MASS_TOLERANCE = 0.01


# ---------------------------------------------------------------- nodes

def node_of(obj) -> dict:
    """A heat, lot or coil as a genealogy node."""
    if isinstance(obj, Heat):
        return {"kind": "heat", "id": obj.id, "label": obj.heat_no, "alloy": obj.alloy, "temper": None,
                "status": None, "weight_kg": obj.weight_kg, "gauge_mm": None, "width_mm": None}
    if isinstance(obj, Lot):
        return {"kind": "lot", "id": obj.id, "label": obj.lot_no, "alloy": obj.alloy, "temper": obj.temper,
                "status": None, "weight_kg": None, "gauge_mm": obj.gauge_mm, "width_mm": obj.width_mm}
    return {"kind": "coil", "id": obj.id, "label": obj.coil_no, "alloy": obj.alloy, "temper": obj.temper,
            "status": obj.status, "weight_kg": obj.weight_kg, "gauge_mm": obj.gauge_mm, "width_mm": obj.width_mm}


def _load_nodes(keys) -> dict:
    """{(kind, id): object} for the nodes that exist in this company."""
    by_kind = defaultdict(set)
    for kind, node_id in keys:
        by_kind[kind].add(node_id)
    found = {}
    for kind, ids in by_kind.items():
        model = MODELS[kind]
        for obj in db.session.scalars(select(model).where(model.id.in_(list(ids)))):
            found[(kind, obj.id)] = obj
    return found


def get_node(kind: str, node_id, field: str | None = None):
    if kind not in NODE_KINDS:
        raise Invalid("Choose heat, lot or coil.", field=field or "kind")
    obj = _load_nodes([(kind, _uuid(node_id))]).get((kind, _uuid(node_id)))
    if obj is None:
        raise Invalid("No such %(kind)s.", field=field or "id", kind=kind)
    return obj


def _uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# ---------------------------------------------------------------- walking the graph

_UP = text("""
WITH RECURSIVE up(link_id, kind, id, depth) AS (
    SELECT l.id, l.parent_kind, l.parent_id, 1
      FROM inv_genealogy_links l
     WHERE l.tenant_id = :tenant AND l.child_kind = :kind AND l.child_id = :id
  UNION
    SELECT l.id, l.parent_kind, l.parent_id, up.depth + 1
      FROM inv_genealogy_links l JOIN up ON l.child_kind = up.kind AND l.child_id = up.id
     WHERE l.tenant_id = :tenant AND up.depth < :max_depth
)
SELECT link_id, min(depth) FROM up GROUP BY link_id
""")

_DOWN = text("""
WITH RECURSIVE down(link_id, kind, id, depth) AS (
    SELECT l.id, l.child_kind, l.child_id, 1
      FROM inv_genealogy_links l
     WHERE l.tenant_id = :tenant AND l.parent_kind = :kind AND l.parent_id = :id
  UNION
    SELECT l.id, l.child_kind, l.child_id, down.depth + 1
      FROM inv_genealogy_links l JOIN down ON l.parent_kind = down.kind AND l.parent_id = down.id
     WHERE l.tenant_id = :tenant AND down.depth < :max_depth
)
SELECT link_id, min(depth) FROM down GROUP BY link_id
""")


def _walk(sql, kind: str, node_id) -> dict:
    params = {"tenant": tenancy.current_tenant_id(), "kind": kind, "id": _uuid(node_id), "max_depth": MAX_DEPTH}
    return {row[0]: row[1] for row in db.session.execute(sql, params)}


def _graph(root, depths: dict, upward: bool) -> dict:
    links = list(db.session.scalars(select(GenealogyLink).where(GenealogyLink.id.in_(list(depths)))))
    keys = {(link.parent_kind, link.parent_id) for link in links} | {(link.child_kind, link.child_id)
                                                                        for link in links}
    objects = _load_nodes(keys)
    root_node = node_of(root)
    node_depth: dict = {(root_node["kind"], root_node["id"]): 0}
    for link in links:
        far = (link.parent_kind, link.parent_id) if upward else (link.child_kind, link.child_id)
        node_depth[far] = min(node_depth.get(far, MAX_DEPTH + 1), depths[link.id])
    nodes = []
    for key, depth in sorted(node_depth.items(), key=lambda kv: (kv[1], kv[0][0], str(kv[0][1]))):
        obj = objects.get(key) if key != (root_node["kind"], root_node["id"]) else root
        if obj is not None:
            nodes.append({**node_of(obj), "depth": depth})
    labels = {(n["kind"], n["id"]): n["label"] for n in nodes}
    link_rows = [{
        "id": link.id, "parent_kind": link.parent_kind, "parent_id": link.parent_id,
        "parent_label": labels.get((link.parent_kind, link.parent_id)),
        "child_kind": link.child_kind, "child_id": link.child_id,
        "child_label": labels.get((link.child_kind, link.child_id)),
        "operation": link.operation, "unit_id": link.unit_id, "work_order_id": link.work_order_id,
        "event_id": link.event_id, "at": link.at, "weight_kg": link.weight_kg, "depth": depths[link.id],
    } for link in links]
    link_rows.sort(key=lambda r: (r["at"], r["depth"], r["parent_label"] or "", r["child_label"] or ""))
    return {"root": root_node, "nodes": nodes, "links": link_rows}


def ancestry(kind: str, node_id) -> dict:
    """Everything a node came from, up to the heats: the nodes (with their
    distance), the links, and the route: each step (operation, unit, time)
    in the order it happened."""
    root = get_node(kind, node_id)
    graph = _graph(root, _walk(_UP, kind, node_id), upward=True)
    graph["route"] = _route(graph["links"])
    return graph


def descendants(kind: str, node_id) -> dict:
    """Everything that came from a node (a heat, a lot, a coil)."""
    root = get_node(kind, node_id)
    graph = _graph(root, _walk(_DOWN, kind, node_id), upward=False)
    graph["coils"] = [n for n in graph["nodes"] if n["kind"] == "coil" and n["depth"] > 0]
    graph["route"] = _route(graph["links"])
    return graph


def descendant_coils(heat_id) -> list[dict]:
    """Every coil that came from a heat, at any distance."""
    return descendants("heat", heat_id)["coils"]


def _route(links: list[dict]) -> list[dict]:
    """The steps of a graph, one per operation at a time and unit (a slitting
    of one coil into four is one step with one input and four outputs)."""
    steps: dict = {}
    for link in links:
        key = (link["event_id"] or (link["operation"], link["unit_id"], link["at"], link["child_id"]))
        step = steps.setdefault(key, {"operation": link["operation"], "unit_id": link["unit_id"],
                                      "work_order_id": link["work_order_id"], "at": link["at"],
                                      "event_id": link["event_id"], "inputs": [], "outputs": []})
        if link["parent_label"] not in step["inputs"]:
            step["inputs"].append(link["parent_label"])
        if link["child_label"] not in step["outputs"]:
            step["outputs"].append(link["child_label"])
    return sorted(steps.values(), key=lambda s: (s["at"], s["operation"]))


def tree(graph: dict, upward: bool = True) -> dict:
    """The graph as a nested tree for display, from the root outwards (a
    node reached twice, after a joining, appears under each path)."""
    objects = {(n["kind"], n["id"]): n for n in graph["nodes"]}
    edges = defaultdict(list)
    for link in graph["links"]:
        near = (link["child_kind"], link["child_id"]) if upward else (link["parent_kind"], link["parent_id"])
        far = (link["parent_kind"], link["parent_id"]) if upward else (link["child_kind"], link["child_id"])
        edges[near].append((far, link))

    def build(key, seen):
        node = objects.get(key)
        branches = []
        for far, link in sorted(edges.get(key, []),
                                key=lambda e: (e[1]["at"], (objects.get(e[0]) or {}).get("label") or "")):
            if far in seen or far not in objects:
                continue
            branches.append({"link": link, **build(far, seen | {far})})
        return {"node": node, "branches": branches}

    root = (graph["root"]["kind"], graph["root"]["id"])
    return build(root, {root})


# ---------------------------------------------------------------- links

def _lock_genealogy() -> None:
    """One writer of links between existing nodes per company at a time."""
    db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                       {"key": f"inv_genealogy:{tenancy.current_tenant_id()}"})


def add_link(*, parent_kind: str, parent_id, child_kind: str, child_id, operation: str, unit_id=None,
             work_order_id=None, at: datetime | None = None, weight_kg: float | None = None,
             note: str | None = None) -> GenealogyLink:
    """Record that `child` was made from `parent` by `operation`. Refused
    (422, nothing changed) when it would make a cycle."""
    operation = clean(operation)
    errors = {}
    if parent_kind not in NODE_KINDS:
        errors["parent_kind"] = ["Choose heat, lot or coil."]
    if child_kind not in NODE_KINDS:
        errors["child_kind"] = ["Choose heat, lot or coil."]
    if not operation:
        errors["operation"] = ["Name the operation."]
    elif len(operation) > 60:
        errors["operation"] = ["Use at most 60 characters."]
    if weight_kg is not None and not positive(weight_kg):
        errors["weight_kg"] = ["Enter a weight above zero, or leave it empty."]
    require(errors)
    parent = get_node(parent_kind, parent_id, "parent_id")
    child = get_node(child_kind, child_id, "child_id")
    if (parent_kind, parent.id) == (child_kind, child.id) or parent.id == child.id:
        raise GenealogyCycle("A %(kind)s cannot be its own parent.", field="child_id", kind=child_kind)
    _lock_genealogy()
    exists = db.session.scalar(select(GenealogyLink.id).where(
        GenealogyLink.parent_kind == parent_kind, GenealogyLink.parent_id == parent.id,
        GenealogyLink.child_kind == child_kind, GenealogyLink.child_id == child.id))
    if exists:
        raise DoubleBooking("This link exists already.")
    below = _walk(_DOWN, child_kind, child.id)
    if below:
        reachable = db.session.scalar(select(func.count()).select_from(GenealogyLink).where(
            GenealogyLink.id.in_(list(below)), GenealogyLink.child_kind == parent_kind,
            GenealogyLink.child_id == parent.id))
        if reachable:
            raise GenealogyCycle("%(parent)s descends from %(child)s already: the link would make a cycle.",
                                 field="child_id", parent=node_of(parent)["label"], child=node_of(child)["label"])
    when = at or utcnow()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    link = new_link(parent_kind, parent.id, child_kind, child.id, operation=operation, at=when, unit_id=unit_id,
                    work_order_id=work_order_id, weight_kg=weight_kg, note=clean(note))
    db.session.flush()
    outbox.publish("inventory.genealogy.linked", {
        "link_id": str(link.id), "parent": {"kind": parent_kind, "id": str(parent.id), "label": node_of(parent)["label"]},
        "child": {"kind": child_kind, "id": str(child.id), "label": node_of(child)["label"]},
        "operation": operation})
    commit_session()
    return link


def links_query(*, kind: str | None = None, node_id=None, operation: str | None = None):
    stmt = select(GenealogyLink)
    if node_id:
        node = _uuid(node_id)
        stmt = stmt.where((GenealogyLink.parent_id == node) | (GenealogyLink.child_id == node))
    if kind:
        stmt = stmt.where((GenealogyLink.parent_kind == kind) | (GenealogyLink.child_kind == kind))
    if operation:
        stmt = stmt.where(GenealogyLink.operation == operation)
    return stmt


# ---------------------------------------------------------------- yield

YIELD_KEYS = {"operation": ProductionEvent.operation, "order_line": ProductionEvent.order_line_id,
              "product": ProductionEvent.product_id, "unit": ProductionEvent.unit_id}


def yields(group_by: str = "operation", *, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    """Yield (成材率) = good output weight / input weight, per operation (or
    order line, product, unit), over the production steps reported."""
    if group_by not in YIELD_KEYS:
        raise Invalid("Group by operation, order_line, product or unit.", field="group_by")
    key = YIELD_KEYS[group_by]
    stmt = (select(key, func.count(), func.sum(ProductionEvent.input_weight_kg),
                   func.sum(ProductionEvent.output_weight_kg), func.sum(ProductionEvent.scrap_weight_kg))
            .where(key.is_not(None)).group_by(key).order_by(key))
    if since:
        stmt = stmt.where(ProductionEvent.at >= since)
    if until:
        stmt = stmt.where(ProductionEvent.at < until)
    rows = []
    for value, steps, inp, out, scrap in db.session.execute(stmt):
        inp, out, scrap = kg(inp), kg(out), kg(scrap)
        rows.append({"key": str(value), "steps": steps, "input_kg": inp, "output_kg": out, "scrap_kg": scrap,
                     "loss_kg": kg(max(inp - out - scrap, 0.0)),
                     "yield_pct": round(100.0 * out / inp, 2) if inp > 0 else None})
    return rows


def events_query(*, operation: str | None = None, order_line_id=None, work_order_id=None):
    stmt = select(ProductionEvent)
    if operation:
        stmt = stmt.where(ProductionEvent.operation == operation)
    if order_line_id:
        stmt = stmt.where(ProductionEvent.order_line_id == order_line_id)
    if work_order_id:
        stmt = stmt.where(ProductionEvent.work_order_id == work_order_id)
    return stmt


def get_event(event_id) -> ProductionEvent:
    return get_or_404(ProductionEvent, event_id, "No such production step")


def event_scrap(event: ProductionEvent) -> list[Scrap]:
    return list(db.session.scalars(select(Scrap).where(Scrap.event_id == event.id).order_by(Scrap.at, Scrap.id)))


# ---------------------------------------------------------------- production output

def record_production_output(*, inputs: list[dict], outputs: list[dict], operation: str, unit_id=None,
                             work_order_id=None, order_line_id=None, product_id=None, scrap: list[dict] = (),
                             location_id=None, at: datetime | None = None, note: str | None = None,
                             commit: bool = True) -> ProductionEvent:
    """One production step, in one transaction: the inputs are consumed
    (coils with the weight used, or a heat's weight cast), the outputs are
    made as new coils linked to every input, the scrap is recorded with its
    reasons. Refused as a whole (nothing changes) when an input is not
    there to consume, a coil number is taken, or the weights do not add up.

    inputs:  [{"coil_id": …, "weight_kg": … (default: all of it)} | {"heat_id": …, "weight_kg": …}]
    outputs: [{"coil_no", "weight_kg", "gauge_mm", "width_mm", "alloy"?, "temper"?, "length_m"?,
               "location_id"?, "lot_id"?, "order_line_id"?, "product_id"?, "notes"?}]
    scrap:   [{"weight_kg", "reason"}]
    An output with a location goes into stock (available); one without stays
    in production (issued, at `unit_id`) for the next operation.
    """
    operation = clean(operation)
    errors: dict[str, list[str]] = {}
    if not operation:
        errors["operation"] = ["Name the operation."]
    elif len(operation) > 60:
        errors["operation"] = ["Use at most 60 characters."]
    if not inputs:
        errors["inputs"] = ["Name what went in."]
    if not outputs and not scrap:
        errors["outputs"] = ["Name what came out (coils or scrap)."]
    coil_inputs, heat_inputs = [], []
    for i, spec in enumerate(inputs or []):
        key = f"inputs.{i}"
        weight = spec.get("weight_kg")
        if weight is not None and not positive(weight):
            errors[key + ".weight_kg"] = ["Enter a weight above zero."]
        if spec.get("coil_id") and not spec.get("heat_id"):
            coil_inputs.append((i, spec))
        elif spec.get("heat_id") and not spec.get("coil_id"):
            if weight is None:
                errors[key + ".weight_kg"] = ["Enter the weight cast from the heat."]
            heat_inputs.append((i, spec))
        else:
            errors[key] = ["Name one coil or one heat."]
    ids = [str(spec["coil_id"]) for _, spec in coil_inputs]
    if len(set(ids)) != len(ids):
        errors["inputs"] = ["A coil appears twice among the inputs."]
    numbers = [clean(o.get("coil_no")) or "" for o in outputs or []]
    for j, spec in enumerate(outputs or []):
        key = f"outputs.{j}."
        number_errors = code_error(numbers[j], "Enter the coil number.")
        if number_errors:
            errors[key + "coil_no"] = number_errors
        elif numbers.count(numbers[j]) > 1:
            errors[key + "coil_no"] = ["This coil number appears twice."]
        elif coil_by_number(numbers[j]) is not None:
            errors[key + "coil_no"] = ["Another coil already has this number."]
        for field, message in (("weight_kg", "Enter the weight (above zero)."),
                               ("gauge_mm", "Enter the gauge (above zero)."),
                               ("width_mm", "Enter the width (above zero).")):
            if not positive(spec.get(field)):
                errors[key + field] = [message]
        if spec.get("length_m") is not None and not positive(spec.get("length_m")):
            errors[key + "length_m"] = ["Enter the length (above zero), or leave it empty."]
        if spec.get("lot_id") and db.session.scalar(select(Lot.id).where(Lot.id == spec["lot_id"])) is None:
            errors[key + "lot_id"] = ["No such lot."]
    for k, spec in enumerate(scrap or []):
        if not positive(spec.get("weight_kg")):
            errors[f"scrap.{k}.weight_kg"] = ["Enter the weight (above zero)."]
        if not clean(spec.get("reason")):
            errors[f"scrap.{k}.reason"] = ["Give the reason for the scrap."]
    require(errors)

    heats = {}
    for i, spec in heat_inputs:
        heat = db.session.scalar(select(Heat).where(Heat.id == spec["heat_id"]))
        if heat is None:
            raise Invalid("No such heat.", field=f"inputs.{i}.heat_id")
        heats[i] = heat
    coils = lock_coils(ids)
    when = at or utcnow()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    consumed: dict = {}
    for i, spec in coil_inputs:
        coil = coils.get(_uuid(spec["coil_id"]))
        if coil is None:
            raise Invalid("No such coil.", field=f"inputs.{i}.coil_id")
        if coil.status == RESERVED:
            reservation = active_reservation(coil)
            if reservation is None or order_line_id is None or str(reservation.order_line_id) != str(order_line_id):
                refuse_unless(coil, (AVAILABLE, ISSUED), "consumed")
        else:
            refuse_unless(coil, (AVAILABLE, ISSUED), "consumed")
        if coil.shipment_id is not None:
            raise DoubleBooking("Coil %(coil_no)s is on shipment %(shipment_no)s: it cannot be %(action)s.",
                                coil_no=coil.coil_no, shipment_no=coil.shipment.shipment_no, action="consumed")
        weight = kg(spec.get("weight_kg") if spec.get("weight_kg") is not None else coil.weight_kg)
        if weight > coil.weight_kg + EPS:
            raise NegativeStock("Coil %(coil_no)s weighs %(weight)s kg: %(wanted)s kg cannot be consumed.",
                                field=f"inputs.{i}.weight_kg", coil_no=coil.coil_no, weight=kg(coil.weight_kg),
                                wanted=weight)
        if coil.weight_kg < EPS:
            raise CoilUnavailable("Coil %(coil_no)s weighs nothing.", coil_no=coil.coil_no, coil_status=coil.status)
        consumed[coil.id] = min(weight, kg(coil.weight_kg))
    total_in = kg(sum(consumed.values()) + sum(float(s["weight_kg"]) for _, s in heat_inputs))
    total_out = kg(sum(float(o["weight_kg"]) for o in outputs or []))
    total_scrap = kg(sum(float(s["weight_kg"]) for s in scrap or []))
    if total_out + total_scrap > total_in * (1 + MASS_TOLERANCE) + EPS:
        raise Invalid("Outputs and scrap weigh %(out)s kg, more than the %(in_)s kg that went in.",
                      field="outputs", out=kg(total_out + total_scrap), in_=total_in)

    sources = [coils[_uuid(s["coil_id"])] for _, s in coil_inputs] + [heats[i] for i, _ in heat_inputs]
    alloys = {s.alloy for s in sources}
    tempers = {s.temper for s in sources if isinstance(s, Coil)}
    heat_ids = {s.heat_id if isinstance(s, Coil) else s.id for s in sources}
    for j, spec in enumerate(outputs or []):
        if not clean(spec.get("alloy")) and len(alloys) != 1:
            raise Invalid("The inputs are of several alloys: name the output's alloy.", field=f"outputs.{j}.alloy")

    # Where the outputs go: into stock (capacity respected) or stay at the unit.
    by_location = defaultdict(list)
    for spec in outputs or []:
        if spec.get("location_id") or location_id:
            by_location[str(spec.get("location_id") or location_id)].append(spec)
    for loc_id in sorted(by_location):
        check_capacity(lock_location(loc_id), len(by_location[loc_id]),
                       sum(float(s["weight_kg"]) for s in by_location[loc_id]))

    # What the step took and made, recorded on the step itself (an append-only row).
    input_record = [{"kind": "coil", "id": str(coils[_uuid(spec["coil_id"])].id),
                     "no": coils[_uuid(spec["coil_id"])].coil_no, "weight_kg": consumed[_uuid(spec["coil_id"])]}
                    for _, spec in coil_inputs]
    input_record += [{"kind": "heat", "id": str(heats[i].id), "no": heats[i].heat_no, "weight_kg": kg(spec["weight_kg"])}
                     for i, spec in heat_inputs]
    output_ids = [uuid.uuid4() for _ in outputs or []]
    output_record = [{"id": str(new_id), "no": clean(spec["coil_no"]), "weight_kg": kg(spec["weight_kg"])}
                     for new_id, spec in zip(output_ids, outputs or [])]
    event = ProductionEvent(operation=operation, unit_id=unit_id, work_order_id=work_order_id,
                            order_line_id=order_line_id, product_id=product_id, at=when, input_weight_kg=total_in,
                            output_weight_kg=total_out, scrap_weight_kg=total_scrap, user_id=current_user_id(),
                            note=clean(note), inputs=input_record, outputs=output_record)
    db.session.add(event)
    db.session.flush()

    # Inputs: issued to the unit (when they were in stock), then consumed.
    for _, spec in coil_inputs:
        coil = coils[_uuid(spec["coil_id"])]
        if coil.status in (AVAILABLE, RESERVED):
            if coil.status == RESERVED:
                end_reservation(coil, "fulfilled", f"consumed by {operation}")
            before = (coil.status, coil.location_id, coil.weight_kg)
            coil.status, coil.location_id, coil.unit_id = ISSUED, None, unit_id
            move = record_move(coil, "issue", from_status=before[0], from_location_id=before[1],
                               weight_before=before[2], unit_id=unit_id, work_order_id=work_order_id,
                               order_line_id=order_line_id, event_id=event.id, at=when)
            db.session.flush()
            announce_move(move, coil)
        before_weight = coil.weight_kg
        coil.weight_kg = kg(coil.weight_kg - consumed[coil.id])
        if coil.weight_kg < EPS:
            coil.weight_kg, coil.status, coil.unit_id = 0.0, CONSUMED, None
        move = record_move(coil, "consume", from_status=ISSUED, weight_before=before_weight, reason=operation,
                           unit_id=unit_id, work_order_id=work_order_id, order_line_id=order_line_id,
                           event_id=event.id, at=when)
        db.session.flush()
        announce_move(move, coil)

    # Outputs: new coils, each linked to every input (its share of each input's weight).
    made = []
    for new_id, spec in zip(output_ids, outputs or []):
        where = spec.get("location_id") or location_id
        coil = Coil(id=new_id, coil_no=clean(spec["coil_no"]), alloy=(clean(spec.get("alloy")) or next(iter(alloys))).upper(),
                    temper=clean(spec.get("temper")) or (next(iter(tempers)) if len(tempers) == 1 else None),
                    gauge_mm=spec["gauge_mm"], width_mm=spec["width_mm"], weight_kg=kg(spec["weight_kg"]),
                    initial_weight_kg=kg(spec["weight_kg"]), length_m=spec.get("length_m"),
                    status=AVAILABLE if where else ISSUED, location_id=where or None,
                    unit_id=None if where else unit_id, lot_id=spec.get("lot_id"),
                    heat_id=next(iter(heat_ids)) if len(heat_ids) == 1 else None,
                    product_id=spec.get("product_id") or product_id,
                    order_line_id=spec.get("order_line_id") or order_line_id, work_order_id=work_order_id,
                    origin="production", fifo_at=when, notes=clean(spec.get("notes")))
        db.session.add(coil)
        db.session.flush()
        move = record_move(coil, "output", from_status=None, weight_before=0, reason=operation, unit_id=unit_id,
                           work_order_id=work_order_id, order_line_id=coil.order_line_id, event_id=event.id, at=when)
        db.session.flush()
        announce_move(move, coil)
        made.append(coil)
    share_base = total_out or 1.0
    for source, record in zip(sources, input_record):
        for coil in made:
            new_link(record["kind"], source.id, "coil", coil.id, operation=operation, at=when, unit_id=unit_id,
                     work_order_id=work_order_id, event_id=event.id,
                     weight_kg=record["weight_kg"] * coil.weight_kg / share_base)
    for spec in scrap or []:
        db.session.add(Scrap(event_id=event.id, weight_kg=kg(spec["weight_kg"]), reason=clean(spec["reason"]), at=when))
    db.session.flush()
    outbox.publish("inventory.production.recorded", {
        "event_id": str(event.id), "operation": operation, "unit_id": str(unit_id) if unit_id else None,
        "work_order_id": str(work_order_id) if work_order_id else None,
        "order_line_id": str(order_line_id) if order_line_id else None, "inputs": input_record,
        "outputs": output_record, "scrap_kg": total_scrap, "input_kg": total_in, "output_kg": total_out})
    if commit:
        commit_session()
    return event


def event_coils(event: ProductionEvent) -> list[Coil]:
    ids = [uuid.UUID(o["id"]) for o in event.outputs or []]
    return list(db.session.scalars(select(Coil).where(Coil.id.in_(ids)).order_by(Coil.coil_no))) if ids else []


__all__ = [
    "MODELS",
    "YIELD_KEYS",
    "add_link",
    "ancestry",
    "descendant_coils",
    "descendants",
    "event_coils",
    "event_scrap",
    "events_query",
    "get_event",
    "get_node",
    "links_query",
    "node_of",
    "record_production_output",
    "tree",
    "yields",
]
