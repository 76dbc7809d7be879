"""Cross-tenant probe factories for the ledger's routes."""
from __future__ import annotations

from alloyhub.platform.sharing import services as sharing
from tests.factories import TenantFactory
from tests.probe import as_owner, factory, pop


@factory("share_id")
def make_share(app, made):
    """A share of tenant `made` with every subscriber (so the probing tenant
    is even among its grantees: the grantor's routes must still say 404)."""
    from tests.platform.sharing.conftest import KIND

    ctx = as_owner(app, made)
    try:
        return sharing.grant(grantee_kind="subscribers", object_kind=KIND, object_id=None).id
    finally:
        pop(ctx)


@factory("alliance_membership_id")
def make_alliance_membership(app, made):
    """An invitation of `made` into an alliance of its own (the member's row:
    another tenant must not find it)."""
    alliance = TenantFactory(app)("alliance")
    with app.app_context():
        from sqlalchemy import select

        from alloyhub.platform.db import db
        from alloyhub.platform.identity.models import Tenant

        slug = db.session.scalar(select(Tenant.slug).where(Tenant.id == made.tenant_id))
    ctx = as_owner(app, alliance)
    try:
        return sharing.invite_member(slug).id
    finally:
        pop(ctx)
