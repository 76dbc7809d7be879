"""The identity pages through the test client: what a person does in the
browser, with real forms, CSRF tokens, sessions and the database."""
from __future__ import annotations

import re
import secrets

import pyotp
import pytest
from sqlalchemy import text

from tests.factories import PASSWORD, csrf_token, sign_in


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def as_browser(test_client):
    # Browsers say they want HTML; errors then come as pages, not problem+json.
    test_client.environ_base["HTTP_ACCEPT"] = BROWSER_ACCEPT
    return test_client


@pytest.fixture
def client(app):
    return as_browser(app.test_client())


@pytest.fixture
def make_client(app):
    return lambda: as_browser(app.test_client())


# ---------------------------------------------------------------- helpers

def post_form(client, url, data=None, page=None):
    """POST a form the way a browser does: with the CSRF token of a page."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client, page or url)})


def last_mail_to(owner_engine, email: str) -> dict:
    # Outbox rows are readable only by the relay, so read them as the owner.
    with owner_engine.connect() as conn:
        row = conn.execute(text(
            "select payload from outbox where topic = 'mail.send' and payload->>'to' = :to "
            "order by created_at desc limit 1"), {"to": email}).one_or_none()
    assert row is not None, f"no mail to {email}"
    return row[0]


def link_path(body: str, prefix: str) -> str:
    match = re.search(rf"https?://[^/\s]+({prefix}/\S+)", body)
    assert match, body
    return match.group(1)


def role_id(owner_engine, tenant_id, key: str) -> str:
    with owner_engine.connect() as conn:
        return str(conn.execute(text("select id from roles where tenant_id = :t and key = :k"),
                                {"t": tenant_id, "k": key}).scalar_one())


def membership(owner_engine, tenant_id, email: str):
    with owner_engine.connect() as conn:
        return conn.execute(text(
            "select m.id, m.status, array(select r.key from membership_roles mr join roles r on r.id = mr.role_id "
            "where mr.membership_id = m.id order by r.key) from memberships m join users u on u.id = m.user_id "
            "where m.tenant_id = :t and u.email = :e"), {"t": tenant_id, "e": email}).one()


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def unique_email(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}@example.com"


# ---------------------------------------------------------------- sign-up, sign-in

def test_sign_up_creates_the_company_and_signs_in(client):
    email = unique_email("founder")
    response = post_form(client, "/signup", {
        "company_name": "Hangzhou Aluminium Rolling", "kind": "plant", "site_name": "Plant 1",
        "name": "Li Wei", "email": email, "password": PASSWORD})
    assert response.status_code == 302
    home = page(client, "/")
    assert "Hangzhou Aluminium Rolling" in home
    assert 'data-testid="tenant-switcher"' in home and 'data-testid="admin-nav"' in home
    members = page(client, "/members")
    assert email in members and "Owner" in members
    assert "Plant 1" in page(client, "/sites")


def test_sign_up_with_bad_input_shows_field_errors_and_creates_nothing(client, owner_engine):
    email = unique_email("bad")
    response = post_form(client, "/signup", {"company_name": "", "kind": "plant", "name": "",
                                             "email": email, "password": "short"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter the company name." in html and "Enter your name." in html
    assert "Use at least 10 characters." in html
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from users where email = :e"), {"e": email}).scalar() == 0


def test_wrong_password_is_a_form_error_with_401(client, tenant_factory):
    made = tenant_factory()
    response = post_form(client, "/signin", {"email": made.owner_email, "password": "Wrong-password-1"})
    assert response.status_code == 401
    assert "Wrong e-mail address or password" in response.get_data(as_text=True)
    assert client.get("/members").status_code == 302  # still signed out: sent to sign in


def test_pages_send_signed_out_people_to_sign_in_and_back(client, tenant_factory):
    made = tenant_factory()
    response = client.get("/members")
    assert response.status_code == 302 and "/signin?next=/members" in response.headers["Location"]
    token = csrf_token(client, "/signin")
    response = client.post("/signin?next=/members", data={"email": made.owner_email, "password": PASSWORD,
                                                           "csrf_token": token})
    assert response.headers["Location"].endswith("/members")


def test_sign_out_ends_the_session(client, tenant_factory):
    made = tenant_factory()
    sign_in(client, made.owner_email)
    assert page(client, "/account")
    assert post_form(client, "/signout", page="/").status_code == 302
    assert client.get("/account").status_code == 302


def test_two_factor_sign_in(client, make_client, tenant_factory):
    made = tenant_factory()
    sign_in(client, made.owner_email)
    assert post_form(client, "/account/totp/begin", page="/account").status_code == 302
    html = page(client, "/account")
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', html).group(1)
    assert "otpauth://totp/" in html and "<svg" in html  # URI and QR code to scan
    wrong = post_form(client, "/account/totp/confirm", {"code": "000000"}, page="/account")
    assert wrong.status_code == 422 and "The code is wrong or has expired." in wrong.get_data(as_text=True)
    assert post_form(client, "/account/totp/confirm", {"code": pyotp.TOTP(secret).now()},
                     page="/account").status_code == 302

    browser = make_client()
    first = post_form(browser, "/signin", {"email": made.owner_email, "password": PASSWORD})
    assert first.status_code == 401
    assert 'name="totp"' in first.get_data(as_text=True)
    assert first.headers["Cache-Control"] == "no-store"
    assert PASSWORD not in first.get_data(as_text=True)  # the code step does not carry the password
    bad = post_form(browser, "/signin", {"email": made.owner_email, "totp": "000000"})
    assert bad.status_code == 401 and "The code is wrong or has expired" in bad.get_data(as_text=True)
    assert browser.get("/account").status_code == 302
    code = pyotp.TOTP(secret).now()
    good = post_form(browser, "/signin", {"email": made.owner_email, "totp": code})
    assert good.status_code == 302
    assert page(browser, "/account")

    # The same code cannot be used for a second sign-in, even with the password.
    replay = post_form(make_client(), "/signin", {"email": made.owner_email, "password": PASSWORD, "totp": code})
    assert replay.status_code == 401 and "The code is wrong or has expired" in replay.get_data(as_text=True)
    # A code step without a password step before it gets nowhere.
    stranger = post_form(make_client(), "/signin", {"email": made.owner_email, "totp": pyotp.TOTP(secret).now()})
    assert stranger.status_code == 401


def test_forgot_and_reset_password_link_works_once(client, make_client, tenant_factory, owner_engine):
    made = tenant_factory()
    response = post_form(client, "/forgot", {"email": made.owner_email})
    assert response.status_code == 302
    # The same answer for an address without an account.
    assert post_form(client, "/forgot", {"email": unique_email("nobody")}).status_code == 302
    path = link_path(last_mail_to(owner_engine, made.owner_email)["body"], "/reset")

    assert "New password" in page(client, path)
    differ = post_form(client, path, {"password": "New-password-77", "password_again": "Other-password-77"})
    assert differ.status_code == 422 and "The two passwords differ." in differ.get_data(as_text=True)
    weak = post_form(client, path, {"password": "short", "password_again": "short"})
    assert weak.status_code == 422 and "Use at least 10 characters." in weak.get_data(as_text=True)
    done = post_form(client, path, {"password": "New-password-77", "password_again": "New-password-77"})
    assert done.status_code == 302

    again = client.get(path)
    assert again.status_code == 404 and "invalid or has already been used" in again.get_data(as_text=True)
    browser = make_client()
    assert post_form(browser, "/signin", {"email": made.owner_email, "password": PASSWORD}).status_code == 401
    sign_in(browser, made.owner_email, "New-password-77")


def test_change_password_keeps_this_session(client, tenant_factory):
    made = tenant_factory()
    sign_in(client, made.owner_email)
    wrong = post_form(client, "/account/password", {"current_password": "nope-nope-1", "password": "Better-pass-99",
                                                    "password_again": "Better-pass-99"}, page="/account")
    assert wrong.status_code == 422 and "The current password is wrong." in wrong.get_data(as_text=True)
    ok = post_form(client, "/account/password", {"current_password": PASSWORD, "password": "Better-pass-99",
                                                 "password_again": "Better-pass-99"}, page="/account")
    assert ok.status_code == 302
    assert "Your password is changed" in page(client, "/account")


# ---------------------------------------------------------------- invitations

def test_invite_and_accept_as_a_new_person(client, make_client, tenant_factory, owner_engine):
    made = tenant_factory()
    sign_in(client, made.owner_email)
    invitee = unique_email("colleague")
    response = post_form(client, "/invitations", {"email": invitee,
                                                  "role_id": role_id(owner_engine, made.tenant_id, "planner")})
    assert response.status_code == 302
    listing = page(client, "/invitations")
    assert invitee in listing and "Planner" in listing
    path = link_path(last_mail_to(owner_engine, invitee)["body"], "/invitations")

    browser = make_client()
    html = page(browser, path)
    assert made.name in html and invitee in html
    weak = post_form(browser, path, {"name": "Zhang Min", "password": "short"})
    assert weak.status_code == 422 and "Use at least 10 characters." in weak.get_data(as_text=True)
    assert post_form(browser, path, {"name": "Zhang Min", "password": PASSWORD}).status_code == 302
    home = page(browser, "/")
    assert made.name in home
    assert membership(owner_engine, made.tenant_id, invitee)[2] == ["planner"]
    # Used once: the link is dead now.
    assert browser.get(path).status_code == 404
    assert invitee not in page(client, "/invitations")


def test_invitation_form_errors_and_revoke(client, tenant_factory, owner_engine):
    made = tenant_factory()
    sign_in(client, made.owner_email)
    bad = post_form(client, "/invitations", {"email": "not-an-address", "role_id": ""})
    assert bad.status_code == 422
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from invitations where tenant_id = :t"),
                            {"t": made.tenant_id}).scalar() == 0
    member = post_form(client, "/invitations", {"email": made.owner_email,
                                                "role_id": role_id(owner_engine, made.tenant_id, "viewer")})
    assert member.status_code == 409 and "This person is already a member" in member.get_data(as_text=True)

    invitee = unique_email("revoked")
    post_form(client, "/invitations", {"email": invitee, "role_id": role_id(owner_engine, made.tenant_id, "viewer")})
    path = link_path(last_mail_to(owner_engine, invitee)["body"], "/invitations")
    with owner_engine.connect() as conn:
        inv_id = conn.execute(text("select id from invitations where email = :e"), {"e": invitee}).scalar_one()
    assert post_form(client, f"/invitations/{inv_id}/revoke", page="/invitations").status_code == 302
    assert 'data-testid="invitation-row"' not in page(client, "/invitations")
    assert client.get(path).status_code == 404


def test_invitation_opened_by_the_wrong_person_is_explained(client, make_client, tenant_factory, owner_engine):
    made, other = tenant_factory(), tenant_factory()
    sign_in(client, made.owner_email)
    invitee = unique_email("right")
    post_form(client, "/invitations", {"email": invitee, "role_id": role_id(owner_engine, made.tenant_id, "viewer")})
    path = link_path(last_mail_to(owner_engine, invitee)["body"], "/invitations")
    wrong = make_client()
    sign_in(wrong, other.owner_email)
    html = page(wrong, path)
    assert 'data-testid="wrong-account"' in html and invitee in html
    post_form(wrong, path)
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from memberships where tenant_id = :t"),
                            {"t": made.tenant_id}).scalar() == 1


def test_invitation_for_an_existing_account_is_accepted_after_sign_in(client, make_client, tenant_factory,
                                                                       owner_engine):
    made, elsewhere = tenant_factory(), tenant_factory()
    sign_in(client, made.owner_email)
    post_form(client, "/invitations", {"email": elsewhere.owner_email,
                                       "role_id": role_id(owner_engine, made.tenant_id, "quality")})
    path = link_path(last_mail_to(owner_engine, elsewhere.owner_email)["body"], "/invitations")
    browser = make_client()
    html = page(browser, path)
    assert 'data-testid="sign-in-to-accept"' in html and 'name="password"' not in html
    assert post_form(browser, path, {"name": "Intruder", "password": PASSWORD}).status_code == 200  # no takeover
    token = csrf_token(browser, "/signin")
    response = browser.post(f"/signin?next={path}", data={"email": elsewhere.owner_email, "password": PASSWORD,
                                                         "csrf_token": token})
    assert response.headers["Location"].endswith(path)
    assert post_form(browser, path).status_code == 302
    assert f'data-testid="current-tenant">{made.name}<' in page(browser, "/")
    switcher = page(browser, "/tenants")
    assert made.name in switcher and elsewhere.name in switcher
    assert membership(owner_engine, made.tenant_id, elsewhere.owner_email)[2] == ["quality"]


# ---------------------------------------------------------------- members

def test_admin_edits_roles_and_deactivates_a_member(client, make_client, tenant_factory, owner_engine):
    made = tenant_factory()
    colleague = tenant_factory.add_member(made, "viewer")
    sign_in(client, made.owner_email)
    member_id, _, _ = membership(owner_engine, made.tenant_id, colleague)
    planner, quality = (role_id(owner_engine, made.tenant_id, k) for k in ("planner", "quality"))
    response = post_form(client, f"/members/{member_id}/roles", {"role_ids": [planner, quality]}, page="/members")
    assert response.status_code == 302
    assert membership(owner_engine, made.tenant_id, colleague)[2] == ["planner", "quality"]

    # No role at all is refused and changes nothing.
    post_form(client, f"/members/{member_id}/roles", {}, page="/members")
    assert "Give the member at least one role." in page(client, "/members")
    assert membership(owner_engine, made.tenant_id, colleague)[2] == ["planner", "quality"]

    theirs = make_client()
    sign_in(theirs, colleague)
    assert page(theirs, "/members")  # planners may read members
    assert post_form(client, f"/members/{member_id}/status", {"status": "deactivated"},
                     page="/members").status_code == 302
    assert membership(owner_engine, made.tenant_id, colleague)[1] == "deactivated"
    assert 'badge off' in page(client, "/members?status=deactivated")
    # The deactivated person keeps an account but no longer reaches the company.
    assert theirs.get("/members").headers["Location"].endswith("/tenants")
    post_form(client, f"/members/{member_id}/status", {"status": "active"}, page="/members")
    assert membership(owner_engine, made.tenant_id, colleague)[1] == "active"


def test_last_owner_conflicts_are_shown_and_change_nothing(client, tenant_factory, owner_engine):
    made = tenant_factory()
    sign_in(client, made.owner_email)
    own_id = membership(owner_engine, made.tenant_id, made.owner_email)[0]
    viewer = role_id(owner_engine, made.tenant_id, "viewer")
    post_form(client, f"/members/{own_id}/roles", {"role_ids": [viewer]}, page="/members")
    assert "A company needs at least one owner" in page(client, "/members")
    post_form(client, f"/members/{own_id}/status", {"status": "deactivated"}, page="/members")
    assert "The last owner cannot be deactivated" in page(client, "/members")
    assert membership(owner_engine, made.tenant_id, made.owner_email)[1:] == ("active", ["owner"])


def test_members_of_another_company_are_not_found(client, tenant_factory, owner_engine):
    mine, other = tenant_factory(), tenant_factory()
    sign_in(client, mine.owner_email)
    their_member = membership(owner_engine, other.tenant_id, other.owner_email)[0]
    response = post_form(client, f"/members/{their_member}/status", {"status": "deactivated"}, page="/members")
    assert response.status_code == 404
    assert membership(owner_engine, other.tenant_id, other.owner_email)[1] == "active"
    assert other.owner_email not in page(client, "/members")


def test_csrf_less_form_post_is_rejected_and_changes_nothing(client, tenant_factory, owner_engine):
    made = tenant_factory()
    sign_in(client, made.owner_email)
    response = client.post("/settings", data={"name": "Renamed by a forged form"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    with owner_engine.connect() as conn:
        name = conn.execute(text("select name from tenants where id = :t"), {"t": made.tenant_id}).scalar_one()
    assert name == made.name


def test_admin_navigation_follows_permissions(client, make_client, tenant_factory):
    made = tenant_factory()
    viewer = tenant_factory.add_member(made, "viewer")
    sign_in(client, made.owner_email)
    html = page(client, "/")
    for endpoint in ("/members", "/invitations", "/roles", "/sites", "/settings", "/audit"):
        assert f'href="{endpoint}"' in html
    browser = make_client()
    sign_in(browser, viewer)
    html = page(browser, "/")
    assert 'href="/sites"' in html
    for endpoint in ("/members", "/invitations", "/roles", "/settings", "/audit"):
        assert f'href="{endpoint}"' not in html
    assert browser.get("/members").status_code == 403
    assert browser.get("/audit").status_code == 403


# ---------------------------------------------------------------- roles, sites, settings, audit

def test_roles_are_created_edited_and_deleted(client, tenant_factory, owner_engine):
    made = tenant_factory()
    sign_in(client, made.owner_email)
    bad = post_form(client, "/roles", {"key": "Bad Key", "name": "", "permissions": ["members.read"]})
    assert bad.status_code == 422 and "Enter a name." in bad.get_data(as_text=True)
    created = post_form(client, "/roles", {"key": "shift-lead", "name": "Shift lead",
                                           "permissions": ["members.read", "tenant.read"]})
    assert created.status_code == 302
    rid = role_id(owner_engine, made.tenant_id, "shift-lead")
    assert "Shift lead" in page(client, "/roles")
    edited = post_form(client, f"/roles/{rid}", {"name": "Shift leader", "permissions": ["tenant.read"]})
    assert edited.status_code == 302
    with owner_engine.connect() as conn:
        name, granted = conn.execute(text("select name, permissions from roles where id = :r"), {"r": rid}).one()
    assert (name, granted) == ("Shift leader", ["tenant.read"])
    owner = role_id(owner_engine, made.tenant_id, "owner")
    assert post_form(client, f"/roles/{owner}/delete", page="/roles").status_code == 302
    assert "Built-in roles cannot be deleted" in page(client, "/roles")
    assert post_form(client, f"/roles/{rid}/delete", page="/roles").status_code == 302
    assert 'data-key="shift-lead"' not in page(client, "/roles")


def test_sites_and_company_settings(client, tenant_factory, owner_engine):
    made = tenant_factory()
    sign_in(client, made.owner_email)
    dup = post_form(client, "/sites", {"name": "Second", "code": "main"})
    assert dup.status_code == 422 and "Another site already uses this code." in dup.get_data(as_text=True)
    assert post_form(client, "/sites", {"name": "Cold rolling mill", "code": "crm"}).status_code == 302
    assert "CRM" in page(client, "/sites")
    with owner_engine.connect() as conn:
        site_id = conn.execute(text("select id from sites where tenant_id = :t and code = 'CRM'"),
                               {"t": made.tenant_id}).scalar_one()
    blank = post_form(client, f"/sites/{site_id}", {"name": "", "code": "CRM"})
    assert blank.status_code == 422 and "Enter the site name." in blank.get_data(as_text=True)
    assert post_form(client, f"/sites/{site_id}", {"name": "Cold mill 2", "code": "CRM2"}).status_code == 302
    assert "Cold mill 2" in page(client, "/sites")

    empty = post_form(client, "/settings", {"name": "  "})
    assert empty.status_code == 422 and "Enter the company name." in empty.get_data(as_text=True)
    assert post_form(client, "/settings", {"name": "Renamed Alloys Ltd"}).status_code == 302
    assert "Renamed Alloys Ltd" in page(client, "/")


def test_audit_log_filters_and_pages_older(client, tenant_factory, owner_engine, app):
    made = tenant_factory()
    sign_in(client, made.owner_email)
    for code in range(3):
        post_form(client, "/sites", {"name": f"Site {code}", "code": f"S{code}"})
    html = page(client, "/audit?action=site.")
    assert html.count('data-testid="audit-row"') == 3 and "auth.sign_in" not in html
    assert made.owner_email in html  # the actor is named
    by_actor = page(client, f"/audit?actor={made.owner_email}")
    assert "auth.sign_in" in by_actor and "site.created" in by_actor
    assert 'data-testid="audit-row"' not in page(client, "/audit?actor=someone-else@example.com")

    from alloyhub.platform.identity import views
    original = views.AUDIT_PAGE_SIZE
    views.AUDIT_PAGE_SIZE = 2
    try:
        first = page(client, "/audit?action=site.")
        assert first.count('data-testid="audit-row"') == 2
        older = re.search(r'data-testid="older" href="([^"]+)"', first).group(1).replace("&amp;", "&")
        second = page(client, older)
        assert second.count('data-testid="audit-row"') == 1 and 'data-testid="older"' not in second
    finally:
        views.AUDIT_PAGE_SIZE = original
    assert client.get("/audit?cursor=garbage").status_code == 400


def test_choose_and_switch_company(client, tenant_factory):
    first, second = tenant_factory(), tenant_factory()
    email = tenant_factory.add_member(second, "viewer", email=first.owner_email)
    sign_in(client, email)
    switcher = page(client, "/tenants")
    assert first.name in switcher and second.name in switcher
    token = csrf_token(client, "/")
    switched = client.post("/tenants/switch", data={"tenant_id": str(second.tenant_id), "csrf_token": token})
    assert switched.status_code == 302
    assert f'data-testid="current-tenant">{second.name}<' in page(client, "/")
    stranger = tenant_factory()
    client.post("/tenants/switch", data={"tenant_id": str(stranger.tenant_id), "csrf_token": token})
    assert "You are not a member of that company." in page(client, "/tenants")
    assert stranger.name not in page(client, "/")


@pytest.mark.parametrize("path", ["/api/docs"])
def test_swagger_ui_is_served_from_vendored_files(client, path):
    html = page(client, path)
    assert "/static/web/vendor/swagger-ui/swagger-ui-bundle.js" in html
    asset = client.get("/static/web/vendor/swagger-ui/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


def test_email_confirmation_link_from_sign_up(app, client, make_client, tenant_factory):
    from tests.factories import mail_links

    made = tenant_factory()
    sign_in(client, made.owner_email)
    assert 'data-testid="email-unverified"' in page(client, "/account")
    assert post_form(client, "/account/verify-email", page="/account").status_code == 302
    links = mail_links(app, made.owner_email, "/verify-email/")
    assert len(links) == 2  # sign-up and the resend
    assert make_client().get(links[0]).status_code == 302  # works without being signed in
    assert 'data-testid="email-verified"' in page(client, "/account")
    assert client.get("/verify-email/forged-token").status_code == 404
    # Once confirmed there is nothing more to resend.
    post_form(client, "/account/verify-email", page="/account")
    assert len(mail_links(app, made.owner_email, "/verify-email/")) == 2


def test_invited_people_have_confirmed_addresses(app, client, make_client, tenant_factory):
    from alloyhub.platform.identity import services

    made = tenant_factory()
    with app.app_context():
        from alloyhub.platform import tenancy
        from alloyhub.platform.db import db

        with tenancy.scoped(made.tenant_id, made.owner_id, session=db.session):
            role = db.session.scalar(services.roles_query().where(services.Role.key == "viewer"))
            _, token = services.invite(email="invited-confirmed@example.com", role_id=role.id, base_url="http://x")
        user, _ = services.accept_invitation(token, name="Invited", password="Rolling-mill-43")
        assert user.email_verified_at is not None
