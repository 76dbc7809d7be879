"""The customer's tracking view: a signed, unguessable link that works without
signing in; a wrong, forged or renewed token is a 404; where the coils are
comes from whoever plugs into line_location."""
from __future__ import annotations

import pytest

from alloyhub.tenants.orders import services as orders


def _link(owner, order_id):
    response = owner.get(f"/api/v1/orders/{order_id}/tracking-link")
    assert response.status_code == 200
    return response.get_json()


def test_tracking_works_without_login(plant, owner, make_client):
    order_id = plant.order([{"quantity": 20.0}, {"quantity": 10.0}], confirm=True, customer_po="PO-TRACK")
    link = _link(owner, order_id)
    assert link["url"].startswith("http://localhost/track/") and link["token"] in link["api_url"]
    stranger = make_client()
    page = stranger.get(link["url"].removeprefix("http://localhost"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "PO-TRACK" in html and 'data-testid="tracking-line"' in html and "P1" in html
    assert "Customer one" in html and "Confirmed" in html
    api = stranger.get(link["api_url"].removeprefix("http://localhost"))
    assert api.status_code == 200
    body = api.get_json()
    assert body["status"] == "confirmed" and body["customer_po"] == "PO-TRACK"
    assert [li["line_no"] for li in body["lines"]] == [1, 2]
    assert body["lines"][0]["location"] == {"known": False, "summary": None, "coils": []}
    assert [t["status"] for t in body["timeline"]] == ["confirmed"]
    # The customer sees no internal notes, people or ids.
    assert "created_by" not in body and "notes" not in body and "id" not in body


def test_chinese_tracking_page(plant, owner, make_client):
    order_id = plant.order(confirm=True)
    link = _link(owner, order_id)["url"].removeprefix("http://localhost")
    html = make_client().get(link, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "已确认" in html and "卷材位置" in html


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),   # broken signature
    lambda t: "x" + t,
    lambda t: "nothing-like-a-token",
])
def test_wrong_token_is_404(plant, owner, make_client, mangle):
    order_id = plant.order(confirm=True)
    token = _link(owner, order_id)["token"]
    stranger = make_client()
    assert stranger.get(f"/track/{mangle(token)}").status_code == 404
    assert stranger.get(f"/api/v1/track/{mangle(token)}").status_code == 404


def test_renewed_link_revokes_the_old_one(plant, owner, make_client):
    order_id = plant.order(confirm=True)
    old = _link(owner, order_id)["token"]
    new = owner.post(f"/api/v1/orders/{order_id}/tracking-link").get_json()["token"]
    assert new != old
    stranger = make_client()
    assert stranger.get(f"/api/v1/track/{old}").status_code == 404
    assert stranger.get(f"/api/v1/track/{new}").status_code == 200


def test_a_draft_is_not_shown_and_tokens_do_not_cross_companies(app, plant, owner, make_client, tenant_factory):
    draft = plant.order()
    stranger = make_client()
    assert stranger.get(f"/api/v1/track/{_link(owner, draft)['token']}").status_code == 404
    # A token signed for another company's order id does not open this one.
    from itsdangerous import URLSafeSerializer

    confirmed = plant.order(confirm=True)
    with plant.scope():
        nonce = orders.get_order(confirmed).tracking_nonce
    other = tenant_factory()
    forged = URLSafeSerializer(app.config["SECRET_KEY"], salt=orders.TRACKING_SALT).dumps(
        [str(other.tenant_id), str(confirmed), nonce])
    assert stranger.get(f"/api/v1/track/{forged}").status_code == 404


def test_line_location_hook(plant, owner, make_client):
    """The inventory room plugs in here; until then the location is unknown."""
    order_id = plant.order(confirm=True)
    (line_id,) = plant.line_ids(order_id)

    def provider(line):
        if line.id != line_id:
            return None
        return orders.LineLocation(True, "2 coils in warehouse FG", [{"coil": "C-001", "location": "FG/A-01"},
                                                                     {"coil": "C-002", "location": "FG/A-02"}])

    orders.register_line_location(provider)
    try:
        with plant.scope():
            assert orders.line_location(line_id).summary == "2 coils in warehouse FG"
        token = _link(owner, order_id)["token"]
        body = make_client().get(f"/api/v1/track/{token}").get_json()
        assert body["lines"][0]["location"]["coils"][1]["location"] == "FG/A-02"
        html = owner.get(f"/orders/{order_id}").get_data(as_text=True)
        assert "2 coils in warehouse FG" in html and "C-001" in html
    finally:
        orders.LOCATION_PROVIDERS.remove(provider)
