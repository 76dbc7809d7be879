"""Below-minimum alerts that name matching shared parts, and "wanted" posts
visible to the alliance (through the ledger) and nobody else."""
from __future__ import annotations

import pytest


def _ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    return response.get_json()


def test_falling_below_minimum_names_the_shared_parts(company, relay, tag):
    holder, plant = company(), company()
    holder.site(region="Jiangsu", lat=31.49, lon=120.31)
    number = f"6310-{tag}"
    holder.part(number, share="subscribers", quantity=5)
    mine = plant.part(number, quantity=3, min_stock=2)
    relay()  # index the shared part
    _ok(plant.api.post(f"/api/v1/spare-parts/{mine}/moves", json={"delta": -2}), 201)
    relay()
    notices = plant.api.get("/api/v1/spare-notifications").get_json()["items"]
    alert = [n for n in notices if n["event"] == "below_minimum"]
    assert len(alert) == 1 and holder.made.name in alert[0]["body"] and "Jiangsu" in alert[0]["body"]
    # Staying below (another move) raises no second alert; the part page lists the match.
    _ok(plant.api.post(f"/api/v1/spare-parts/{mine}/moves", json={"delta": -1}), 201)
    relay()
    assert len([n for n in plant.api.get("/api/v1/spare-notifications").get_json()["items"]
                if n["event"] == "below_minimum"]) == 1
    html = plant.browser().get(f"/spares/parts/{mine}").get_data(as_text=True)
    assert 'data-testid="match"' in html and holder.made.name in html


def test_nothing_shared_suggests_a_wanted_post(company, relay, tag):
    plant = company()
    mine = plant.part(f"NONE-{tag}", quantity=1, min_stock=1)
    _ok(plant.api.post(f"/api/v1/spare-parts/{mine}/moves", json={"delta": -1}), 201)
    relay()
    (alert,) = [n for n in plant.api.get("/api/v1/spare-notifications").get_json()["items"]
                if n["event"] == "below_minimum"]
    assert "wanted" in alert["body"]
    html = plant.browser().get(f"/spares/parts/{mine}").get_data(as_text=True)
    assert 'data-testid="no-matches"' in html and 'data-testid="post-as-wanted"' in html


def test_wanted_posts_reach_the_alliance_only(company, tag):
    alliance, a, b, outsider = company("alliance"), company(), company(), company()
    a.join(alliance)
    b.join(alliance)
    post = _ok(a.api.post("/api/v1/spares-wanted", json={"part_number": f"WR-{tag}", "description": "work roll",
                                                         "quantity": 2}), 201)
    assert post["status"] == "open"

    def board(company_):
        return [p["id"] for p in company_.api.get("/api/v1/spares-wanted").get_json()["items"]]

    assert post["id"] in board(a) and post["id"] in board(b) and post["id"] not in board(outsider)
    assert outsider.api.get(f"/api/v1/spares-wanted/{post['id']}").status_code == 404
    assert b.api.get(f"/api/v1/spares-wanted/{post['id']}").status_code == 200
    feed = a.api.get("/api/v1/share-activity?object_kind=spares.wanted").get_json()["items"]
    assert {r["reader_tenant_id"] for r in feed} == {str(b.id)}
    # Only its author closes it; closed, it is gone from the board.
    assert b.api.post(f"/api/v1/spares-wanted/{post['id']}/close").status_code == 404
    assert _ok(a.api.post(f"/api/v1/spares-wanted/{post['id']}/close"))["status"] == "closed"
    assert post["id"] not in board(b)
    assert a.api.post(f"/api/v1/spares-wanted/{post['id']}/close").status_code == 409


@pytest.mark.parametrize("body,field", [
    ({"part_number": "---"}, "part_number"),
    ({"part_number": "X1", "needed_by": "2001-01-01"}, "needed_by"),
    ({"part_number": "X1"}, "audience"),  # no alliance to show it to
])
def test_bad_wanted_posts(company, body, field):
    a = company()
    response = a.api.post("/api/v1/spares-wanted", json=body)
    assert response.status_code == 422 and field in response.get_json()["errors"]
    # Other companies' posts shared with every subscriber may be on the board; none of a's.
    board = a.api.get("/api/v1/spares-wanted").get_json()["items"]
    assert [item for item in board if item["owner_id"] == str(a.id)] == []


def test_wanted_page_in_both_languages(company, tag):
    alliance, a = company("alliance"), company()
    a.join(alliance)
    browser = a.browser()
    from tests.factories import csrf_token

    token = csrf_token(browser, "/spares/wanted")
    done = browser.post("/spares/wanted", data={"csrf_token": token, "part_number": f"P-{tag}", "quantity": "1",
                                               "audience": "alliances"})
    assert done.status_code == 302
    html = browser.get("/spares/wanted").get_data(as_text=True)
    assert f"P-{tag}" in html and 'data-testid="wanted-row"' in html
    assert "发布求购" in browser.get("/spares/wanted", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)


def test_compatible_spares_for_an_equipment_model(company, relay, tag):
    holder, plant = company(), company()
    model = f"CM-{tag}"
    shared = holder.part(f"S-{tag}", share="subscribers", equipment_models=[model])
    holder.part(f"H-{tag}", equipment_models=[model])  # not shared
    mine = plant.part(f"M-{tag}", equipment_models=[model, "other"])
    relay()
    found = plant.api.get(f"/api/v1/spares-compatible?model={model}").get_json()
    assert [p["id"] for p in found["own"]] == [str(mine)]
    assert [e["id"] for e in found["shared"]] == [str(shared)]
    assert plant.api.get("/api/v1/spares-compatible").status_code == 422
    html = plant.browser().get(f"/spares/compatible?model={model}", headers={"Accept-Language": "zh-CN"})
    assert f"适用于 {model} 的备件" in html.get_data(as_text=True)
