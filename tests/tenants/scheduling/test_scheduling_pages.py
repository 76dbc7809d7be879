"""The scheduling pages: versions list with the new-version and mark-down
forms, a version's Gantt (units as rows, bars by alloy family, set-ups
hatched, furnace loads grouped, locks, actual-vs-planned), compare, a
disruption with its affected operations, form actions, Chinese, and the
room's own catalogue."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from alloyhub.platform.db import db
from alloyhub.tenants.scheduling import services
from tests.factories import csrf_token, sign_in

CATALOGUE = Path(__file__).parents[3] / "alloyhub/tenants/scheduling/translations/zh_CN/LC_MESSAGES"


def _solved(plant, **kw):
    with plant.scope():
        version = services.create_version(time_limit=kw.pop("time_limit", 2), enqueue=False, **kw)
        return services.solve(version.id).id


def _client(plant, make_client):
    client = make_client()
    sign_in(client, plant.made.owner_email)
    return client


def test_versions_page_lists_versions_and_offers_the_forms(plant, make_client):
    client = _client(plant, make_client)
    html = client.get("/scheduling/").get_data(as_text=True)
    assert 'data-testid="no-versions"' in html and 'data-testid="new-version"' in html
    plant.order([{"quantity": 20.0}], confirm=True)
    _solved(plant)
    html = client.get("/scheduling/").get_data(as_text=True)
    assert html.count('data-testid="version-row"') == 1 and "Solved" in html
    assert 'data-testid="mark-down"' in html


def test_the_gantt_shows_units_bars_setups_loads_and_locks(plant, make_client):
    from alloyhub.tenants.products import services as products

    with plant.scope():
        products.create_setup_rule(kind="alloy_family_change", minutes=90.0)
        other = products.create_product(code="P5", alloy="5052", temper="H32", gauge_mm=1.0, width_mm=1000,
                                         coil_weight_t=5.0)
        products.set_routing(other, plant.routing())
        p5 = other.id
    plant.order([{"quantity": 5.0}, {"quantity": 5.0}, {"quantity": 5.0, "product_id": p5}], confirm=True)
    version_id = _solved(plant, objective="makespan", time_limit=3)
    with plant.scope():
        version = services.get_version(version_id)
        services.lock_operation(version.operations[-1])
        setups = sum(1 for op in version.operations if op.setup_minutes)
        loads = {op.batch_key for op in version.operations if op.batch_key}
    client = _client(plant, make_client)
    html = client.get(f"/scheduling/versions/{version_id}?zoom=hour").get_data(as_text=True)
    assert '<svg' in html and 'data-zoom="hour"' in html
    assert html.count('data-testid="gantt-row"') == 4
    assert html.count('data-testid="gantt-op"') == 12
    assert html.count('data-testid="gantt-setup"') == setups >= 1
    assert html.count('data-testid="gantt-batch"') == len(loads)
    assert html.count('class="op locked"') == 1
    assert "#59a14f" in html and "#e15759" in html          # 3xxx and 5xxx colours
    assert 'data-testid="kpis"' in html and 'data-testid="explanation"' in html
    for zoom in ("day", "week"):
        assert f'data-zoom="{zoom}"' in client.get(f"/scheduling/versions/{version_id}?zoom={zoom}") \
            .get_data(as_text=True)


def test_the_published_gantt_shows_actual_times(plant, make_client):
    from alloyhub.tenants.production import services as production

    order = plant.order([{"quantity": 20.0}], confirm=True)
    version_id = _solved(plant)
    with plant.scope():
        services.publish(services.get_version(version_id))
        (line_id,) = plant.line_ids(order)
        wo = next(w for w in db.session.scalars(production.work_orders_query(order_line_id=line_id)) if w.step == 0)
        production.start(wo.id)
    html = _client(plant, make_client).get(f"/scheduling/versions/{version_id}").get_data(as_text=True)
    assert html.count('data-testid="gantt-actual"') == 1 and "Published" in html


def test_form_actions_lock_move_publish_and_refusals(plant, make_client, run_jobs):
    plant.order([{"quantity": 20.0}], confirm=True)
    version_id = _solved(plant)
    client = _client(plant, make_client)
    token = csrf_token(client, "/scheduling/")
    with plant.scope():
        version = services.get_version(version_id)
        op = next(o for o in version.operations if o.step == 0)
        op_id, unit_id, start = op.id, op.unit_id, op.start
    r = client.post(f"/scheduling/operations/{op_id}/lock", data={"locked": "1", "csrf_token": token})
    assert r.status_code == 302
    with plant.scope():
        assert services.get_operation(op_id).locked
    # a unit that cannot run it: refused, shown on the page
    r = client.post(f"/scheduling/operations/{op_id}/move", data={
        "unit_id": str(plant.units["PK1"]), "start": "2031-01-06T08:00", "csrf_token": token}, follow_redirects=True)
    assert "cannot run" in r.get_data(as_text=True)
    later = (start + timedelta(hours=6)).astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M")
    r = client.post(f"/scheduling/operations/{op_id}/move", data={
        "unit_id": str(unit_id), "start": later, "csrf_token": token})
    assert r.status_code == 302 and "/scheduling/versions/" in r.headers["Location"]
    assert str(version_id) not in r.headers["Location"]
    assert run_jobs() == 1
    r = client.post(f"/scheduling/versions/{version_id}/publish", data={"csrf_token": token}, follow_redirects=True)
    assert "is published" in r.get_data(as_text=True)
    r = client.post("/scheduling/versions", data={"time_limit": "900", "objective": "makespan", "csrf_token": token},
                    follow_redirects=True)
    assert "1 to 600 seconds" in r.get_data(as_text=True)


def test_compare_and_disruption_pages(plant, make_client):
    plant.order([{"quantity": 20.0}, {"quantity": 20.0}], confirm=True)
    a = _solved(plant, objective="makespan")
    b = _solved(plant, objective="weighted_tardiness")
    client = _client(plant, make_client)
    html = client.get(f"/scheduling/compare?a={a}&b={b}").get_data(as_text=True)
    assert html.count('data-testid="compare-row"') == 5
    assert client.get("/scheduling/compare?a=x&b=y").status_code == 404
    with plant.scope():
        services.publish(services.get_version(a))
        first = min(services.get_version(a).operations, key=lambda o: o.start)
        now = datetime.now(timezone.utc)
        d = services.mark_down(unit_id=first.unit_id, starts_at=now, ends_at=first.end + timedelta(hours=1),
                               reason="bearing")
    html = client.get(f"/scheduling/disruptions/{d.id}").get_data(as_text=True)
    assert html.count('data-testid="affected-row"') >= 1 and 'data-testid="reschedule"' in html
    listing = client.get("/scheduling/").get_data(as_text=True)
    assert 'data-testid="disruption-banner"' in listing and "bearing" in listing


def test_pages_in_chinese(plant, make_client):
    plant.order([{"quantity": 20.0}], confirm=True)
    version_id = _solved(plant)
    client = _client(plant, make_client)
    html = client.get(f"/scheduling/versions/{version_id}", headers={"Accept-Language": "zh-CN"}).get_data(
        as_text=True)
    assert "甘特图" in html and "已求解" in html and "延期订单行" in html
    html = client.get("/scheduling/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "新建排程" in html and "标记设备停机" in html


def test_viewers_see_pages_without_planning_forms(plant, make_client, tenant_factory):
    plant.order([{"quantity": 20.0}], confirm=True)
    version_id = _solved(plant)
    email = tenant_factory.add_member(plant.made, "viewer")
    client = make_client()
    sign_in(client, email)
    html = client.get(f"/scheduling/versions/{version_id}").get_data(as_text=True)
    assert 'data-testid="gantt"' in html and '<div class="op-panel"' not in html
    assert 'data-testid="new-version"' not in client.get("/scheduling/").get_data(as_text=True)
    token = csrf_token(client, "/scheduling/")
    assert client.post(f"/scheduling/versions/{version_id}/publish", data={"csrf_token": token}).status_code == 403


def test_every_message_is_translated_and_compiled():
    catalogue = read_po((CATALOGUE / "messages.po").open("rb"), locale="zh_CN")
    messages = [m for m in catalogue if m.id]
    assert len(messages) > 120
    assert [m.id for m in messages if not m.string] == []
    for m in messages:
        mid = m.id[0] if isinstance(m.id, tuple) else m.id
        text = m.string[0] if isinstance(m.string, tuple) else m.string
        assert sorted(re.findall(r"%\(\w+\)s", mid)) == sorted(re.findall(r"%\(\w+\)s", text)), mid
    compiled = read_mo((CATALOGUE / "messages.mo").open("rb"))
    assert len([m for m in compiled if m.id]) == len(messages)
