"""In Chromium: a Trial plant's owner opens a module the trial does not
include, clicks upgrade to Professional, goes through Stripe Checkout (the
stand-in's checkout page returns to AlloyHub at once), Stripe's signed
checkout.session.completed webhook arrives, and the module opens."""
from __future__ import annotations

import threading

import pytest
import requests
from playwright.sync_api import expect
from werkzeug.serving import make_server

from alloyhub.platform.billing import stripe_client
from tests.factories import PASSWORD
from tests.platform.stripe_standin import (  # noqa: F401 - fixtures
    event, localstripe_url, paying_customer, signed, stripe_api, stripe_config, stripe_standin, subscribe,
)
from tests.platform.test_billing import make_gated_app


@pytest.fixture
def billing_server(app, stripe_standin):
    """An app with Stripe on and a module room the trial lacks (scheduling),
    served on a free port; BASE_URL is its own address (Stripe returns there)."""
    gated = make_gated_app(app, stripe_config(stripe_standin))
    server = make_server("127.0.0.1", 0, gated, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    gated.config["BASE_URL"] = base
    with gated.app_context():
        stripe_client.sync_catalogue()
    thread = threading.Thread(target=server.serve_forever, name="billing-live-server", daemon=True)
    thread.start()
    yield base
    server.shutdown()
    thread.join(timeout=10)


def test_upgrade_from_trial_to_professional_unlocks_a_module(billing_server, new_context, tenant_factory,
                                                              stripe_standin):
    plant = tenant_factory()
    page = new_context().new_page()
    page.goto(f"{billing_server}/signin")
    page.get_by_test_id("email").fill(plant.owner_email)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("current-tenant")).to_have_text(plant.name)

    # The trial does not include scheduling: an upgrade prompt instead of the page.
    page.goto(f"{billing_server}/probe-scheduling")
    expect(page.get_by_test_id("upgrade-prompt")).to_be_visible()
    upgrade = page.get_by_test_id("upgrade")
    expect(upgrade).to_have_text("Upgrade to Professional")
    page.screenshot(path="/tmp/upgrade-prompt.png", full_page=True)
    upgrade.click()

    # Checkout (the stand-in's page) sent the browser back to AlloyHub.
    page.wait_for_url(f"{billing_server}/billing")
    expect(page.get_by_test_id("flash")).to_contain_text("as soon as Stripe confirms the payment")
    expect(page.get_by_test_id("current-plan")).to_have_attribute("data-plan", "trial")
    (session,) = [s for s in stripe_standin.checkout_sessions.values()
                  if s["client_reference_id"] == str(plant.tenant_id)]
    assert session["status"] == "complete"

    # Stripe made the subscription and tells AlloyHub, signed.
    bank = stripe_api(stripe_standin)
    paying_customer(bank, session["customer"])
    sub = subscribe(bank, session["customer"], "professional", plant.tenant_id)
    body, headers = signed(event("checkout.session.completed", {
        "id": session["id"], "object": "checkout.session", "customer": session["customer"],
        "subscription": sub["id"], "client_reference_id": str(plant.tenant_id), "metadata": session["metadata"]}))
    delivered = requests.post(f"{billing_server}/webhooks/stripe", data=body, headers=headers, timeout=30)
    assert delivered.status_code == 200, delivered.text

    page.goto(f"{billing_server}/billing")
    expect(page.get_by_test_id("current-plan")).to_have_attribute("data-plan", "professional")
    page.screenshot(path="/tmp/billing.png", full_page=True)
    page.goto(f"{billing_server}/probe-scheduling")
    expect(page.get_by_test_id("module-page")).to_have_text("scheduling")
