"""Business rules for companies, people and their access. Every write goes
through here; the API and the pages only parse, call and render."""
from __future__ import annotations

import hashlib
import re
import secrets
import time
import unicodedata
import uuid
from datetime import datetime, timedelta, timezone

import pyotp
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select

from .. import audit, mail, outbox, tenancy
from .. import permissions as perms
from ..auth import Principal
from ..db import db, get_or_404, utcnow
from ..errors import Conflict, NotFound, PermissionDenied, Unauthorized, ValidationFailed
from . import passwords
from .models import TENANT_KINDS, Invitation, Membership, MembershipRole, Role, Site, Tenant, User

INVITATION_TTL = timedelta(days=7)
RESET_TTL_SECONDS = 3600
VERIFY_TTL_SECONDS = 7 * 86400
SECOND_FACTOR_TTL_SECONDS = 300
ALL_TENANTS = {"skip_tenant_filter": True}


class InvalidCredentials(Unauthorized):
    slug, title = "invalid-credentials", "Wrong e-mail address or password"


class SecondFactorRequired(Unauthorized):
    slug, title = "second-factor-required", "Enter the code from your authenticator app"

    def __init__(self, detail: str | None = None, *, user: User | None = None):
        super().__init__(detail)
        self.user = user


# ---------------------------------------------------------------- plug-in points

# Other platform rooms plug in here so identity needs no knowledge of them
# (billing gives a new company its plan and guards the plan's limits).
# Both run synchronously inside the caller's transaction: a company is never
# committed without what the hooks add, and a refused limit adds nothing.
_tenant_created_hooks: list = []
_quota_guards: list = []


def on_tenant_created(fn):
    """Register fn(tenant), called in the new tenant's scope before commit."""
    _tenant_created_hooks.append(fn)
    return fn


def quota_guard(fn):
    """Register fn(tenant_id, resource, adding); it raises to refuse the addition."""
    _quota_guards.append(fn)
    return fn


def _check_quota(resource: str, adding: int = 1, tenant_id=None) -> None:
    for guard in _quota_guards:
        guard(tenant_id or tenancy.current_tenant_id(), resource, adding)


# ---------------------------------------------------------------- helpers

def normalise_email(raw: str) -> str:
    try:
        return validate_email((raw or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(errors={"email": [str(exc)]}) from exc


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40]
    return slug or "company"


def _unique_slug(name: str) -> str:
    base = _slugify(name)
    slug = base
    while db.session.scalar(select(func.count()).select_from(Tenant).where(Tenant.slug == slug)):
        slug = f"{base}-{secrets.token_hex(2)}"
    return slug


def _require(errors: dict[str, list[str]]) -> None:
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        raise ValidationFailed(errors=errors)


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.lower()))


# ---------------------------------------------------------------- tenants

def create_tenant(name: str, kind: str, site_name: str | None, owner: User, site_code: str | None = None) -> Tenant:
    """A company with its built-in roles, a first site and its owner."""
    name = (name or "").strip()
    _require({
        "company_name": ["Enter the company name."] if not name else [],
        "kind": [f"Choose one of: {', '.join(TENANT_KINDS)}."] if kind not in TENANT_KINDS else [],
    })
    tenant = Tenant(id=uuid.uuid4(), name=name, slug=_unique_slug(name), kind=kind)
    db.session.add(tenant)
    db.session.flush()
    with tenancy.scoped(tenant.id, owner.id, session=db.session):
        roles = {}
        for key, (role_name, role_perms) in perms.BUILTIN_ROLES.items():
            roles[key] = Role(key=key, name=role_name, permissions=list(role_perms), builtin=True)
            db.session.add(roles[key])
        db.session.add(Site(name=(site_name or name).strip(), code=(site_code or "MAIN").strip().upper()))
        membership = Membership(user_id=owner.id)
        db.session.add(membership)
        db.session.flush()
        db.session.add(MembershipRole(membership_id=membership.id, role_id=roles["owner"].id))
        audit.record("tenant.created", target=tenant, name=name, kind=kind)
        for hook in _tenant_created_hooks:
            hook(tenant)
        outbox.publish("tenant.created", {"tenant_id": str(tenant.id), "name": name, "kind": kind})
    return tenant


def sign_up(*, company_name: str, kind: str, site_name: str | None, name: str, email: str, password: str) -> tuple[User, Tenant]:
    errors: dict[str, list[str]] = {"password": passwords.problems(password or "")}
    if not (name or "").strip():
        errors["name"] = ["Enter your name."]
    try:
        email = normalise_email(email)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    else:
        if user_by_email(email):
            errors["email"] = ["An account with this e-mail address exists; sign in instead."]
    if not (company_name or "").strip():
        errors["company_name"] = ["Enter the company name."]
    _require(errors)
    user = User(email=email, name=name.strip(), password_hash=passwords.hash_password(password))
    db.session.add(user)
    db.session.flush()
    tenant = create_tenant(company_name, kind or "plant", site_name, user)
    _queue_verification_mail(user)
    db.session.commit()
    return user, tenant


def current_tenant() -> Tenant:
    tenant = db.session.get(Tenant, tenancy.current_tenant_id())
    if tenant is None:
        raise NotFound("No company is selected")
    return tenant


def update_tenant(*, name: str | None = None, sso_domains: list[str] | None = None) -> Tenant:
    tenant = current_tenant()
    changes = {}
    if name is not None and not name.strip():
        raise ValidationFailed(errors={"name": ["Enter the company name."]})
    if name is not None and name.strip() != tenant.name:
        changes["name"] = [tenant.name, name.strip()]
        tenant.name = name.strip()
    if sso_domains is not None:
        domains = sorted({d.strip().lower().lstrip("@") for d in sso_domains if d.strip()})
        bad = [d for d in domains if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", d)]
        _require({"sso_domains": [f"Not a domain name: {d}" for d in bad]})
        if domains != list(tenant.sso_domains):
            changes["sso_domains"] = [list(tenant.sso_domains), domains]
            tenant.sso_domains = domains
    if changes:
        audit.record("tenant.updated", target=tenant, changes=changes)
    db.session.commit()
    return tenant


# ---------------------------------------------------------------- sites

def sites_query():
    return select(Site)


def get_site(site_id) -> Site:
    return get_or_404(Site, site_id, "No such site")


def create_site(*, name: str, code: str, address: str | None = None, timezone: str = "Asia/Shanghai") -> Site:
    code = (code or "").strip().upper()
    _require({"name": [] if (name or "").strip() else ["Enter the site name."],
              "code": [] if code else ["Enter a short site code."]})
    if db.session.scalar(select(Site).where(Site.code == code)):
        raise ValidationFailed(errors={"code": ["Another site already uses this code."]})
    _check_quota("sites")
    site = Site(name=name.strip(), code=code, address=address, timezone=timezone or "Asia/Shanghai")
    db.session.add(site)
    db.session.flush()
    audit.record("site.created", target=site, name=site.name, code=code)
    db.session.commit()
    return site


def update_site(site: Site, **fields) -> Site:
    blank = {k for k in ("name", "code") if fields.get(k) is not None and not fields[k].strip()}
    _require({"name": ["Enter the site name."] if "name" in blank else [],
              "code": ["Enter a short site code."] if "code" in blank else []})
    if "code" in fields and fields["code"] is not None:
        code = fields["code"].strip().upper()
        clash = db.session.scalar(select(Site).where(Site.code == code, Site.id != site.id))
        if clash:
            raise ValidationFailed(errors={"code": ["Another site already uses this code."]})
        fields["code"] = code
    for key in ("name", "code", "address", "timezone"):
        if fields.get(key) is not None:
            setattr(site, key, fields[key])
    for key in ("region", "latitude", "longitude"):  # may be cleared (None)
        if key in fields:
            setattr(site, key, fields[key])
    audit.record("site.updated", target=site, fields=sorted(k for k, v in fields.items() if v is not None))
    db.session.commit()
    return site


# ---------------------------------------------------------------- sign-in

def authenticate(email: str, password: str, totp_code: str | None = None) -> User:
    """Check the credentials; every attempt lands in the audit log.

    With two-factor sign-in on and no code given, raises SecondFactorRequired
    carrying the user, so the page can ask for the code without keeping the
    password (see `begin_second_factor`)."""
    email_norm = (email or "").strip().lower()
    user = user_by_email(email_norm)
    if not passwords.verify(user.password_hash if user else None, password or ""):
        _record_sign_in_failure(user, email_norm, "bad-password")
        db.session.commit()
        raise InvalidCredentials()
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if user.totp_enabled:
        if not totp_code:
            db.session.commit()
            raise SecondFactorRequired(user=user)
        _check_second_factor(user, totp_code)
    _record_for_each_tenant(user, "auth.sign_in", method="password+totp" if user.totp_enabled else "password")
    db.session.commit()
    return user


def begin_second_factor(sess, user: User) -> None:
    """Remember, in the signed session cookie, who passed the password step."""
    sess.clear()
    sess["pending_uid"] = str(user.id)
    sess["pending_epoch"] = user.session_epoch
    sess["pending_at"] = int(time.time())


def complete_second_factor(sess, code: str) -> User:
    """The code step of a sign-in whose password step passed minutes ago."""
    try:
        fresh = time.time() - int(sess.get("pending_at", 0)) <= SECOND_FACTOR_TTL_SECONDS
        user = db.session.get(User, uuid.UUID(sess.get("pending_uid", ""))) if fresh else None
    except (ValueError, TypeError):
        user = None
    if user is None or not user.totp_enabled or user.session_epoch != sess.get("pending_epoch"):
        sess.clear()
        raise InvalidCredentials("Sign in again: the sign-in took too long or was changed")
    _check_second_factor(user, code)
    _record_for_each_tenant(user, "auth.sign_in", method="password+totp")
    db.session.commit()
    sess.clear()
    return user


def _check_second_factor(user: User, code: str) -> None:
    step = _totp_step(user.totp_secret, code)
    # A code is good for one sign-in only (RFC 6238 section 5.2).
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        _record_sign_in_failure(user, user.email, "bad-totp")
        db.session.commit()
        raise SecondFactorRequired("The code is wrong or has expired", user=user)
    user.totp_last_step = step


def _totp_step(secret: str, code: str) -> int | None:
    """The time step a code belongs to (now, or one step either side), or None."""
    totp = pyotp.TOTP(secret)
    code = (code or "").strip()
    now = time.time()
    for offset in (0, -1, 1):
        at = now + offset * totp.interval
        if code and secrets.compare_digest(totp.at(at), code):
            return totp.timecode(datetime.fromtimestamp(at, timezone.utc))
    return None


def _record_sign_in_failure(user: User | None, email: str, reason: str) -> None:
    if user is None:
        audit.record("auth.sign_in_failed", tenant_id=None, actor_label=email, reason=reason)
    else:
        _record_for_each_tenant(user, "auth.sign_in_failed", reason=reason)


def _record_for_each_tenant(user: User, action: str, **details) -> None:
    """Sign-in events belong to every company the person is a member of, so each
    company's admins see them in their own audit log."""
    tenant_ids = [m.tenant_id for m in memberships_of(user.id)] or [None]
    for tenant_id in tenant_ids:
        with tenancy.scoped(tenant_id, user.id, session=db.session):
            audit.record(action, tenant_id=tenant_id, actor_user_id=user.id, actor_label=user.email, **details)


def memberships_of(user_id, *, active_only: bool = True) -> list[Membership]:
    """The person's memberships across all companies (RLS allows one's own)."""
    with tenancy.scoped(None, user_id, session=db.session):
        stmt = select(Membership).where(Membership.user_id == user_id).execution_options(**ALL_TENANTS)
        if active_only:
            stmt = stmt.where(Membership.status == "active")
        result = list(db.session.scalars(stmt).unique())
    return result


def tenants_of(user_id) -> list[Tenant]:
    ids = [m.tenant_id for m in memberships_of(user_id)]
    if not ids:
        return []
    return list(db.session.scalars(select(Tenant).where(Tenant.id.in_(ids), Tenant.status != "deleted").order_by(Tenant.name)))


def start_session(sess, user: User, tenant_id=None) -> None:
    sess.clear()
    sess["uid"] = str(user.id)
    sess["epoch"] = user.session_epoch
    tenants = tenants_of(user.id)
    chosen = next((t for t in tenants if str(t.id) == str(tenant_id)), None) or (tenants[0] if tenants else None)
    sess["tid"] = str(chosen.id) if chosen else None
    sess.permanent = True


def switch_tenant(sess, user_id, tenant_id) -> Tenant:
    tenant = next((t for t in tenants_of(user_id) if str(t.id) == str(tenant_id)), None)
    if tenant is None:
        raise NotFound("You are not a member of that company")
    sess["tid"] = str(tenant.id)
    return tenant


def sign_out(sess) -> None:
    sess.clear()


def permissions_for(user_id, tenant_id) -> frozenset[str] | None:
    """The permissions of an active member, or None if not an active member."""
    with tenancy.scoped(tenant_id, user_id, session=db.session):
        membership = db.session.scalar(
            select(Membership).where(Membership.user_id == user_id, Membership.status == "active")
        )
        if membership is None:
            return None
        granted: set[str] = set()
        for role in membership.roles:
            granted |= perms.expand(role.permissions)
        return frozenset(granted)


def principal_from_session(sess) -> Principal | None:
    try:
        user_id = uuid.UUID(sess["uid"])
    except (KeyError, ValueError, TypeError):
        sess.clear()
        return None
    user = db.session.get(User, user_id)
    if user is None or user.session_epoch != sess.get("epoch"):
        sess.clear()
        return None
    tenant_id = sess.get("tid")
    granted = permissions_for(user_id, tenant_id) if tenant_id else None
    if granted is None:
        # The membership went away (deactivated): keep the person signed in
        # without a company, so they can pick another one.
        sess["tid"] = None
        return Principal(user_id=user_id, tenant_id=None, permissions=frozenset(), via="session")
    return Principal(user_id=user_id, tenant_id=uuid.UUID(tenant_id), permissions=granted, via="session")


# ---------------------------------------------------------------- password reset

def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def _password_fingerprint(user: User) -> str:
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def request_password_reset(email: str, base_url: str) -> None:
    """Mail a reset link. Says nothing about whether the address exists."""
    user = user_by_email((email or "").strip().lower())
    if user is None:
        return
    token = _reset_serializer().dumps({"u": str(user.id), "f": _password_fingerprint(user), "e": user.session_epoch})
    link = f"{base_url.rstrip('/')}/reset/{token}"
    mail.queue(user.email, "Reset your AlloyHub password / 重置 AlloyHub 密码",
               f"Hello {user.name},\n\nTo choose a new password, open:\n{link}\n\n"
               "The link works once and for one hour. If you did not ask for it, ignore this mail.\n")
    _record_for_each_tenant(user, "auth.password_reset_requested")
    db.session.commit()


def user_for_reset_token(token: str) -> User:
    try:
        data = _reset_serializer().loads(token, max_age=RESET_TTL_SECONDS)
        user = db.session.get(User, uuid.UUID(data["u"]))
    except (BadSignature, SignatureExpired, KeyError, ValueError, TypeError) as exc:
        raise NotFound("This reset link is invalid or has expired") from exc
    if user is None or data.get("f") != _password_fingerprint(user) or data.get("e") != user.session_epoch:
        raise NotFound("This reset link is invalid or has already been used")
    return user


def reset_password(token: str, new_password: str) -> User:
    user = user_for_reset_token(token)
    _require({"password": passwords.problems(new_password or "")})
    user.password_hash = passwords.hash_password(new_password)
    user.session_epoch += 1
    user.email_verified_at = user.email_verified_at or utcnow()  # the link came by mail
    _record_for_each_tenant(user, "auth.password_reset")
    db.session.commit()
    return user


def change_password(user: User, current: str, new_password: str) -> None:
    if not passwords.verify(user.password_hash, current or ""):
        raise ValidationFailed(errors={"current_password": ["The current password is wrong."]})
    _require({"password": passwords.problems(new_password or "")})
    user.password_hash = passwords.hash_password(new_password)
    user.session_epoch += 1
    _record_for_each_tenant(user, "auth.password_changed")
    db.session.commit()


# ---------------------------------------------------------------- e-mail verification

def _verification_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="email-verification")


def _queue_verification_mail(user: User) -> None:
    token = _verification_serializer().dumps({"u": str(user.id), "e": user.email})
    link = f"{current_app.config['BASE_URL'].rstrip('/')}/verify-email/{token}"
    mail.queue(user.email, "Confirm your e-mail address / 确认您的电子邮箱",
               f"Hello {user.name},\n\nPlease confirm that this is your address:\n{link}\n\n"
               f"The link works for {VERIFY_TTL_SECONDS // 86400} days.\n")


def resend_verification(user: User) -> None:
    if user.email_verified_at is not None:
        raise Conflict("Your e-mail address is already confirmed")
    _queue_verification_mail(user)
    db.session.commit()


def verify_email(token: str) -> User:
    try:
        data = _verification_serializer().loads(token, max_age=VERIFY_TTL_SECONDS)
        user = db.session.get(User, uuid.UUID(data["u"]))
    except (BadSignature, SignatureExpired, KeyError, ValueError, TypeError) as exc:
        raise NotFound("This confirmation link is invalid or has expired") from exc
    # A link for an address the account no longer has proves nothing.
    if user is None or data.get("e") != user.email:
        raise NotFound("This confirmation link is invalid or has expired")
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        _record_for_each_tenant(user, "auth.email_verified")
        db.session.commit()
    return user


# ---------------------------------------------------------------- two-factor

def begin_totp(user: User) -> str:
    """A new secret, not yet active until confirmed with a code."""
    if user.totp_enabled:
        raise Conflict("Two-factor sign-in is already on")
    user.totp_secret = pyotp.random_base32()
    db.session.commit()
    return user.totp_secret


def totp_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name="AlloyHub")


def confirm_totp(user: User, code: str) -> None:
    if not user.totp_secret or user.totp_enabled:
        raise Conflict("Start setting up two-factor sign-in first")
    if _totp_step(user.totp_secret, code) is None:
        raise ValidationFailed(errors={"code": ["The code is wrong or has expired."]})
    user.totp_enabled = True
    _record_for_each_tenant(user, "auth.totp_enabled")
    db.session.commit()


def disable_totp(user: User, code: str) -> None:
    if not user.totp_enabled:
        raise Conflict("Two-factor sign-in is off")
    if _totp_step(user.totp_secret, code) is None:
        raise ValidationFailed(errors={"code": ["The code is wrong or has expired."]})
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    _record_for_each_tenant(user, "auth.totp_disabled")
    db.session.commit()


# ---------------------------------------------------------------- roles

def roles_query():
    return select(Role)


def get_role(role_id) -> Role:
    return get_or_404(Role, role_id, "No such role")


def _check_permissions(names: list[str]) -> list[str]:
    unknown = sorted(set(names) - set(perms.REGISTRY) - {"*"})
    _require({"permissions": [f"Unknown permission: {n}" for n in unknown]})
    return sorted(set(names))


def create_role(*, key: str, name: str, permissions: list[str]) -> Role:
    key = (key or "").strip().lower()
    _require({"key": [] if re.fullmatch(r"[a-z][a-z0-9_-]{1,59}", key) else
              ["Use 2-60 lower-case letters, digits, '-' or '_', starting with a letter."],
              "name": [] if (name or "").strip() else ["Enter a name."]})
    if db.session.scalar(select(Role).where(Role.key == key)):
        raise ValidationFailed(errors={"key": ["A role with this key exists."]})
    role = Role(key=key, name=name.strip(), permissions=_check_permissions(permissions or []))
    db.session.add(role)
    db.session.flush()
    audit.record("role.created", target=role, key=key, permissions=role.permissions)
    db.session.commit()
    return role


def update_role(role: Role, *, name: str | None = None, permissions: list[str] | None = None) -> Role:
    if role.builtin and role.key == "owner":
        raise Conflict("The owner role cannot be changed")
    changes = {}
    if name is not None and name.strip():
        changes["name"] = [role.name, name.strip()]
        role.name = name.strip()
    if permissions is not None:
        new = _check_permissions(permissions)
        changes["permissions"] = [list(role.permissions), new]
        role.permissions = new
    audit.record("role.updated", target=role, changes=changes)
    db.session.commit()
    return role


def delete_role(role: Role) -> None:
    if role.builtin:
        raise Conflict("Built-in roles cannot be deleted")
    in_use = db.session.scalar(select(func.count()).select_from(MembershipRole).where(MembershipRole.role_id == role.id))
    if in_use:
        raise Conflict(f"The role is held by {in_use} member(s); take it away from them first")
    audit.record("role.deleted", target=role, key=role.key)
    db.session.delete(role)
    db.session.commit()


# ---------------------------------------------------------------- members

def members_query(status: str | None = None):
    stmt = select(Membership)
    if status:
        stmt = stmt.where(Membership.status == status)
    return stmt


def get_membership(membership_id) -> Membership:
    return get_or_404(Membership, membership_id, "No such member")


def _active_owner_count() -> int:
    return db.session.scalar(
        select(func.count()).select_from(Membership)
        .join(MembershipRole, MembershipRole.membership_id == Membership.id)
        .join(Role, Role.id == MembershipRole.role_id)
        .where(Role.key == "owner", Membership.status == "active")
    )


def _is_owner(membership: Membership) -> bool:
    return any(r.key == "owner" for r in membership.roles)


def set_member_roles(membership: Membership, role_ids: list) -> Membership:
    if not role_ids:
        raise ValidationFailed(errors={"role_ids": ["Give the member at least one role."]})
    roles = list(db.session.scalars(select(Role).where(Role.id.in_(role_ids))))
    if len(roles) != len(set(role_ids)):
        raise ValidationFailed(errors={"role_ids": ["One or more roles do not exist."]})
    if _is_owner(membership) and not any(r.key == "owner" for r in roles) and _active_owner_count() <= 1:
        raise Conflict("A company needs at least one owner")
    before = [r.key for r in membership.roles]
    db.session.execute(MembershipRole.__table__.delete().where(MembershipRole.membership_id == membership.id))
    for role in roles:
        db.session.add(MembershipRole(membership_id=membership.id, role_id=role.id))
    audit.record("member.roles_changed", target=membership, user=membership.user.email,
                 before=before, after=sorted(r.key for r in roles))
    db.session.commit()
    db.session.refresh(membership)
    return membership


def set_member_status(membership: Membership, status: str) -> Membership:
    if status not in ("active", "deactivated"):
        raise ValidationFailed(errors={"status": ["Use 'active' or 'deactivated'."]})
    if status == membership.status:
        return membership
    if status == "deactivated" and _is_owner(membership) and _active_owner_count() <= 1:
        raise Conflict("The last owner cannot be deactivated")
    if status == "active":
        _check_quota("users")
    membership.status = status
    audit.record(f"member.{'deactivated' if status == 'deactivated' else 'reactivated'}",
                 target=membership, user=membership.user.email)
    db.session.commit()
    return membership


# ---------------------------------------------------------------- invitations

def invitations_query(pending_only: bool = True):
    stmt = select(Invitation)
    if pending_only:
        stmt = stmt.where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
    return stmt


def get_invitation(invitation_id) -> Invitation:
    return get_or_404(Invitation, invitation_id, "No such invitation")


def invite(*, email: str, role_id, base_url: str) -> tuple[Invitation, str]:
    email = normalise_email(email)
    role = db.session.scalar(select(Role).where(Role.id == role_id)) if role_id else None
    if role is None:
        raise ValidationFailed(errors={"role_id": ["Choose a role."]})
    existing = user_by_email(email)
    if existing and db.session.scalar(select(Membership).where(Membership.user_id == existing.id)):
        raise Conflict("This person is already a member")
    pending = db.session.scalar(invitations_query().where(Invitation.email == email))
    _check_quota("users")
    if pending is not None:
        pending.revoked_at = utcnow()
    token = secrets.token_urlsafe(32)
    invitation = Invitation(email=email, role_id=role.id, token_hash=_hash_token(token),
                            invited_by=tenancy.current().user_id, expires_at=utcnow() + INVITATION_TTL)
    db.session.add(invitation)
    db.session.flush()
    tenant = current_tenant()
    link = f"{base_url.rstrip('/')}/invitations/{token}"
    mail.queue(email, f"{tenant.name} invites you to AlloyHub / 邀请您加入 AlloyHub",
               f"{tenant.name} invites you to join them on AlloyHub as {role.name}.\n\n"
               f"Accept the invitation:\n{link}\n\nThe link works for {INVITATION_TTL.days} days.\n")
    audit.record("invitation.created", target=invitation, email=email, role=role.key)
    db.session.commit()
    return invitation, token


def revoke_invitation(invitation: Invitation) -> None:
    if invitation.accepted_at or invitation.revoked_at:
        raise Conflict("The invitation is no longer pending")
    invitation.revoked_at = utcnow()
    audit.record("invitation.revoked", target=invitation, email=invitation.email)
    db.session.commit()


def invitation_by_token(token: str) -> tuple[Invitation, Tenant]:
    """Look up a pending invitation by its secret token, in whichever company."""
    with tenancy.system_context(db.session):
        invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == _hash_token(token or "")))
        valid = (invitation is not None and invitation.accepted_at is None and invitation.revoked_at is None
                 and invitation.expires_at > utcnow())
        if not valid:
            raise NotFound("This invitation is invalid, expired or already used")
        tenant = db.session.get(Tenant, invitation.tenant_id)
        db.session.expunge(invitation)
    return invitation, tenant


def accept_invitation(token: str, *, user: User | None = None, name: str | None = None,
                      password: str | None = None) -> tuple[User, Tenant]:
    """Join the inviting company: as the signed-in person, or as a new account."""
    invitation, tenant = invitation_by_token(token)
    if user is None:
        existing = user_by_email(invitation.email)
        if existing is not None:
            raise Conflict("An account with this e-mail address exists; sign in to accept the invitation")
        _require({"name": [] if (name or "").strip() else ["Enter your name."],
                  "password": passwords.problems(password or "")})
        _check_quota("users", tenant_id=tenant.id)  # before the account exists: nothing half-made
        # The invitation link came by mail to this address: it is verified.
        user = User(email=invitation.email, name=name.strip(), password_hash=passwords.hash_password(password),
                    email_verified_at=utcnow())
        db.session.add(user)
        db.session.flush()
    elif user.email != invitation.email:
        raise PermissionDenied(f"This invitation is for {invitation.email}; sign in with that address")
    with tenancy.scoped(tenant.id, user.id, session=db.session):
        membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
        if membership is None or membership.status != "active":
            _check_quota("users", tenant_id=tenant.id)
        if membership is None:
            membership = Membership(user_id=user.id)
            db.session.add(membership)
            db.session.flush()
            db.session.add(MembershipRole(membership_id=membership.id, role_id=invitation.role_id))
        else:
            membership.status = "active"
        db.session.execute(
            Invitation.__table__.update().where(Invitation.id == invitation.id).values(accepted_at=utcnow())
        )
        audit.record("invitation.accepted", target_type="invitation", target_id=invitation.id, email=user.email)
        db.session.commit()
    return user, tenant


def join_by_sso(tenant: Tenant, *, email: str, name: str) -> User:
    """Just-in-time membership for a verified e-mail in one of the tenant's SSO domains."""
    email = normalise_email(email)
    domain = email.rsplit("@", 1)[1]
    user = user_by_email(email)
    with tenancy.scoped(tenant.id, user.id if user else None, session=db.session):
        membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id)) if user else None
        if membership is not None:
            if membership.status != "active":
                raise PermissionDenied("Your membership of this company is deactivated")
            return user
        if domain not in tenant.sso_domains:
            raise PermissionDenied(f"{tenant.name} does not admit {domain} addresses by single sign-on")
        if user is None:
            # Only called for addresses the identity provider says it verified.
            user = User(email=email, name=(name or email.split("@")[0]).strip()[:120], email_verified_at=utcnow())
            db.session.add(user)
            db.session.flush()
        _check_quota("users", tenant_id=tenant.id)
        default_role = db.session.scalar(select(Role).where(Role.key == "viewer"))
        membership = Membership(user_id=user.id)
        db.session.add(membership)
        db.session.flush()
        db.session.add(MembershipRole(membership_id=membership.id, role_id=default_role.id))
        audit.record("member.joined_by_sso", target=membership, actor_user_id=user.id, email=email)
        db.session.commit()
    return user
