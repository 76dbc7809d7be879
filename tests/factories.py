"""Factories: each test makes its own companies and people."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from alloyhub.platform import tenancy
from alloyhub.platform.db import db

PASSWORD = "Rolling-mill-42"


@dataclass
class MadeTenant:
    tenant_id: object
    name: str
    owner_id: object
    owner_email: str
    password: str = PASSWORD


class TenantFactory:
    def __init__(self, app):
        self.app = app

    def __call__(self, kind: str = "plant", name: str | None = None) -> MadeTenant:
        from alloyhub.platform.identity import services

        tag = secrets.token_hex(4)
        name = name or f"Test {kind} {tag}"
        email = f"owner-{tag}@{kind}-{tag}.example.com"
        with self.app.app_context():
            user, tenant = services.sign_up(company_name=name, kind=kind, site_name=None, name=f"Owner {tag}",
                                            email=email, password=PASSWORD)
            return MadeTenant(tenant.id, tenant.name, user.id, email)

    def add_member(self, made: MadeTenant, role_key: str = "viewer", email: str | None = None) -> str:
        """A second person in the company with one role; returns the e-mail."""
        from sqlalchemy import select

        from alloyhub.platform.identity import passwords
        from alloyhub.platform.identity.models import Membership, MembershipRole, Role, User

        email = email or f"member-{secrets.token_hex(4)}@example.com"
        with self.app.app_context():
            user = db.session.scalar(select(User).where(User.email == email))
            if user is None:
                user = User(email=email, name=email.split("@")[0], password_hash=passwords.hash_password(PASSWORD))
                db.session.add(user)
                db.session.flush()
            with tenancy.scoped(made.tenant_id, user.id, session=db.session):
                role = db.session.scalar(select(Role).where(Role.key == role_key))
                membership = Membership(user_id=user.id)
                db.session.add(membership)
                db.session.flush()
                db.session.add(MembershipRole(membership_id=membership.id, role_id=role.id))
                db.session.commit()
        return email


def csrf_token(client, path: str = "/signin") -> str:
    html = client.get(path, follow_redirects=True).get_data(as_text=True)  # e.g. / → /tenants without a company
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page carries no CSRF token"
    return match.group(1)


def sign_in(client, email: str, password: str = PASSWORD):
    token = csrf_token(client)
    response = client.post("/signin", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


class ApiClient:
    """JSON calls as a signed-in browser (session cookie + CSRF header)."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def sign_in(self, email: str, password: str = PASSWORD):
        sign_in(self.client, email, password)
        self.token = csrf_token(self.client, "/")
        return self

    def _headers(self, extra=None):
        headers = {"X-CSRFToken": self.token} if self.token else {}
        headers.update(extra or {})
        return headers

    def get(self, url, **kw):
        return self.client.get(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, url, json=None, **kw):
        return self.client.post(url, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def patch(self, url, json=None, **kw):
        return self.client.patch(url, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, url, **kw):
        return self.client.delete(url, headers=self._headers(kw.pop("headers", None)), **kw)


def mail_links(app, to: str, path: str) -> list[str]:
    """Links under `path` in mails queued for `to`, oldest first (read from the outbox)."""
    from sqlalchemy import select

    from alloyhub.platform.outbox import OutboxEvent

    with app.app_context(), tenancy.system_context(db.session):
        events = db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "mail.send", OutboxEvent.payload["to"].astext == to)
            .order_by(OutboxEvent.created_at)
        ).all()
        bodies = [e.payload["body"] for e in events]
    return [m for body in bodies for m in re.findall(r"https?://\S+(" + re.escape(path) + r"\S+)", body)]


def verify_email(app, client, email: str) -> None:
    """Follow the confirmation link mailed at sign-up."""
    (link,) = mail_links(app, email, "/verify-email/")[-1:]
    assert client.get(link).status_code == 302
