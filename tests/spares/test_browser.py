"""In Chromium: plant B shares a bearing; plant A searches the catalogue
(typing the number its own way), requests two, B accepts and ships, A
confirms receipt; stock on both sides is right, and B's Sharing page shows
A's reads."""
from __future__ import annotations

from decimal import Decimal

from playwright.sync_api import expect
from sqlalchemy import text

from tests.factories import PASSWORD
from tests.platform.stripe_standin import localstripe_url, stripe_on, stripe_standin  # noqa: F401 - fixtures


def _sign_in(page, base, email):
    page.goto(f"{base}/signin")
    page.get_by_test_id("email").fill(email)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{base}/")


def test_search_request_accept_ship_receive(live_server, new_context, company, relay, owner_engine, tag):
    a, b = company(), company()
    a.site(region="Jiangsu", lat=31.30, lon=120.58)
    b.site(region="Jiangsu", lat=31.49, lon=120.31)
    number = f"6205-2RS-{tag}"
    b.part(number, share="subscribers", quantity=5, shared_quantity=3, manufacturer="SKF",
           description="Deep groove ball bearing, sealed", terms={"sale_price": Decimal("85.00")})
    relay()

    buyer = new_context().new_page()
    _sign_in(buyer, live_server, a.made.owner_email)
    buyer.goto(f"{live_server}/spares/catalogue")
    buyer.get_by_test_id("q").fill(f"6205 2RS {tag}")
    buyer.get_by_test_id("sort").select_option("distance")
    buyer.get_by_test_id("search").click()
    hit = buyer.get_by_test_id("hit").first
    expect(hit).to_contain_text(number)
    expect(hit).to_contain_text("about 35 km")
    expect(hit.get_by_test_id("available")).to_have_text("3 available")
    hit.get_by_role("link").first.click()
    expect(buyer.get_by_test_id("holder")).to_have_text(b.made.name)
    buyer.get_by_test_id("quantity").fill("2")
    buyer.get_by_test_id("urgency").select_option("line_down")
    buyer.get_by_test_id("send-request").click()
    expect(buyer.get_by_test_id("status")).to_have_attribute("data-status", "requested")
    request_url = buyer.url

    seller = new_context().new_page()
    _sign_in(seller, live_server, b.made.owner_email)
    seller.goto(f"{live_server}/spares/requests?role=incoming")
    seller.get_by_test_id("request-row").first.get_by_role("link").click()
    seller.get_by_test_id("action-accept").click()
    expect(seller.get_by_test_id("status")).to_have_attribute("data-status", "accepted")
    seller.get_by_test_id("tracking").fill("SF-778899")
    seller.get_by_test_id("action-ship").click()
    expect(seller.get_by_test_id("status")).to_have_attribute("data-status", "shipped")

    buyer.goto(request_url)
    expect(buyer.get_by_test_id("conversation")).to_contain_text("tracking SF-778899")
    buyer.get_by_test_id("action-receive").click()
    expect(buyer.get_by_test_id("status")).to_have_attribute("data-status", "completed")
    buyer.screenshot(path="/tmp/spares-request-completed.png", full_page=True)

    norm = number.replace("-", "")
    with owner_engine.connect() as conn:
        held = dict(conn.execute(text("select tenant_id, sum(quantity) from spares_parts where part_number_norm = :n "
                                      "group by tenant_id"), {"n": norm}).all())
    assert (held[b.id], held[a.id]) == (3, 2)

    # Both stock pages say so, and the seller's Sharing page shows who read its part.
    buyer.goto(f"{live_server}/spares?q={tag}")
    expect(buyer.get_by_test_id("part-row").get_by_test_id("quantity")).to_have_text("2")
    seller.goto(f"{live_server}/sharing?tab=activity")
    expect(seller.get_by_test_id("read-row").first).to_contain_text(a.made.name)


def test_pay_online_before_shipping(live_server, new_context, company, relay, owner_engine, tag, stripe_on, client):
    """With billing on: B connects its Stripe account from the Online payments
    page, accepts A's request; A pays through Checkout; once Stripe's webhook
    says so, both see it paid and B can ship."""
    from tests.platform.stripe_standin import event, signed

    a, b = company(), company()
    number = f"6310-ZZ-{tag}"
    b.part(number, share="subscribers", quantity=4, terms={"sale_price": Decimal("40.00")})
    relay()

    seller = new_context().new_page()
    _sign_in(seller, live_server, b.made.owner_email)
    seller.goto(f"{live_server}/spares")
    seller.get_by_test_id("payments-link").click()
    expect(seller.get_by_test_id("payment-account")).to_have_attribute("data-state", "none")
    seller.get_by_test_id("connect-stripe").click()  # Stripe's onboarding (the stand-in) sends it straight back
    expect(seller.get_by_test_id("payment-account")).to_have_attribute("data-state", "enabled")

    buyer = new_context().new_page()
    _sign_in(buyer, live_server, a.made.owner_email)
    buyer.goto(f"{live_server}/spares/catalogue?q={number}")
    buyer.get_by_test_id("hit").first.get_by_role("link").first.click()
    buyer.get_by_test_id("quantity").fill("1")
    buyer.get_by_test_id("send-request").click()
    request_url = buyer.url

    seller.goto(f"{live_server}/spares/requests?role=incoming")
    seller.get_by_test_id("request-row").first.get_by_role("link").click()
    seller.get_by_test_id("action-accept").click()
    expect(seller.get_by_test_id("payment")).to_have_attribute("data-payment", "due")
    expect(seller.get_by_test_id("awaiting-payment")).to_be_visible()
    expect(seller.get_by_test_id("action-ship")).to_have_count(0)

    buyer.goto(request_url)
    buyer.get_by_test_id("action-pay").click()  # Checkout (the stand-in) takes the card and returns
    expect(buyer.get_by_test_id("payment")).to_have_attribute("data-payment", "pending")
    session = next(s for s in stripe_on.checkout_sessions.values() if s["mode"] == "payment"
                   and s["metadata"].get("request_id") == request_url.rstrip("/").rsplit("/", 1)[1])
    body, headers = signed(event("checkout.session.completed", session))
    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 200

    buyer.reload()
    expect(buyer.get_by_test_id("payment")).to_have_attribute("data-payment", "paid")
    seller.reload()
    expect(seller.get_by_test_id("payment")).to_have_attribute("data-payment", "paid")
    seller.get_by_test_id("action-ship").click()
    expect(seller.get_by_test_id("status")).to_have_attribute("data-status", "shipped")
