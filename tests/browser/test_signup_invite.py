"""In Chromium: a company signs up, invites a colleague, and the colleague
joins and sees their own company only."""
from __future__ import annotations

import re
import secrets

from playwright.sync_api import expect
from sqlalchemy import text

from tests.factories import PASSWORD


def invitation_path(owner_engine, email: str) -> str:
    # Outbox rows are readable only by the relay; read the mail as the owner.
    with owner_engine.connect() as conn:
        body = conn.execute(text(
            "select payload->>'body' from outbox where topic = 'mail.send' and payload->>'to' = :to "
            "order by created_at desc limit 1"), {"to": email}).scalar_one()
    return re.search(r"https?://[^/\s]+(/invitations/\S+)", body).group(1)


def test_sign_up_invite_and_the_invited_person_sees_only_their_company(
        live_server, new_context, tenant_factory, owner_engine):
    tag = secrets.token_hex(3)
    company = f"Baiyin Copper Strip {tag}"
    owner_email = f"owner-{tag}@baiyin-{tag}.example.com"
    colleague_email = f"planner-{tag}@baiyin-{tag}.example.com"
    unrelated = tenant_factory(name=f"Unrelated Extrusions {tag}")

    # The owner signs the company up.
    owner = new_context().new_page()
    owner.goto(f"{live_server}/signup")
    owner.get_by_test_id("company_name").fill(company)
    owner.get_by_test_id("kind").select_option("plant")
    owner.get_by_test_id("site_name").fill("Cold rolling plant")
    owner.get_by_test_id("name").fill("Wang Fang")
    owner.get_by_test_id("email").fill(owner_email)
    owner.get_by_test_id("password").fill(PASSWORD)
    owner.get_by_test_id("sign-up").click()
    expect(owner.get_by_test_id("current-tenant")).to_have_text(company)
    expect(owner.get_by_test_id("flash")).to_contain_text("Welcome to AlloyHub")

    # ... and invites a colleague as planner, from the admin navigation.
    owner.get_by_test_id("admin-nav").get_by_role("link", name="Invitations").click()
    owner.get_by_test_id("email").fill(colleague_email)
    owner.get_by_test_id("role_id").select_option(label="Planner")
    owner.get_by_test_id("invite").click()
    expect(owner.get_by_test_id("flash")).to_contain_text(colleague_email)
    expect(owner.get_by_test_id("invitation-row")).to_contain_text("Planner")

    # The colleague opens the link from the mail in a browser of their own.
    colleague = new_context().new_page()
    colleague.goto(live_server + invitation_path(owner_engine, colleague_email))
    expect(colleague.locator("h1")).to_have_text(f"Join {company}")
    colleague.get_by_test_id("name").fill("Zhao Lei")
    colleague.get_by_test_id("password").fill("short")
    colleague.get_by_test_id("accept").click()
    expect(colleague.get_by_test_id("error-password").first).to_contain_text("at least 10 characters")
    colleague.get_by_test_id("password").fill(PASSWORD)
    colleague.get_by_test_id("accept").click()

    # Signed in, in the inviting company, and nowhere else.
    expect(colleague.get_by_test_id("current-tenant")).to_have_text(company)
    colleague.get_by_test_id("tenant-switcher").locator("summary").click()
    options = colleague.get_by_test_id("tenant-option")
    expect(options).to_have_count(1)
    expect(options).to_have_text([company])
    for path in ("/", "/tenants", "/sites", "/members"):
        colleague.goto(live_server + path)
        assert unrelated.name not in colleague.content(), path
        assert unrelated.owner_email not in colleague.content(), path
    members = colleague.get_by_test_id("member-row")
    expect(members).to_have_count(2)
    expect(colleague.get_by_test_id("members")).to_contain_text(colleague_email)

    # The unrelated company's members cannot be reached: switching to it is
    # refused, and its membership ids are not found.
    with owner_engine.connect() as conn:
        their_member = conn.execute(text("select id from memberships where tenant_id = :t"),
                                    {"t": unrelated.tenant_id}).scalar_one()
    token = colleague.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = colleague.request.post(f"{live_server}/tenants/switch", form={
        "tenant_id": str(unrelated.tenant_id), "csrf_token": token})
    assert refused.ok and "You are not a member of that company." in refused.text()
    colleague.goto(f"{live_server}/members")
    expect(colleague.get_by_test_id("current-tenant")).to_have_text(company)
    assert unrelated.owner_email not in colleague.content()
    probe = colleague.request.post(f"{live_server}/members/{their_member}/status", form={
        "status": "deactivated", "csrf_token": token}, max_redirects=0)
    assert probe.status == 403  # a planner may not administer members at all
    with owner_engine.connect() as conn:
        assert conn.execute(text("select status from memberships where id = :m"),
                            {"m": their_member}).scalar_one() == "active"

    # The owner sees both people; keep a picture of the page to look at.
    owner.goto(f"{live_server}/members")
    expect(owner.get_by_test_id("member-row")).to_have_count(2)
    owner_row = owner.locator(f'[data-testid="member-row"][data-email="{colleague_email}"]')
    expect(owner_row.locator('input[data-role="planner"]')).to_be_checked()
    owner.screenshot(path="/tmp/members.png", full_page=True)
