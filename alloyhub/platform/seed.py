"""Demo data for `alloyhub up` and `alloyhub seed`: companies, sites, people
with different roles, one person in two companies and a pending invitation.

Everything goes through the identity services, the same way a person would
do it in the browser (sign up, add a site, invite a colleague, the colleague
accepts), so the demo also fills the audit log and the outbox. Each step
first looks for what it would make, so seeding again changes nothing.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select

from . import tenancy
from .db import db
from .identity import services
from .identity.models import Invitation, Membership, Role, Site, Tenant, User

# Printed by `alloyhub up`; a demo password for demo accounts, never a default
# of the product (sign-up demands a password of the person's own).
DEMO_PASSWORD = "alloyhub-demo-2026"


@dataclass(frozen=True)
class Person:
    name: str
    email: str


@dataclass(frozen=True)
class DemoSite:
    name: str
    code: str
    address: str | None = None


@dataclass(frozen=True)
class Company:
    name: str
    kind: str
    site: DemoSite
    owner: Person
    members: tuple[tuple[Person, str], ...] = ()       # (person, built-in role key)
    extra_sites: tuple[DemoSite, ...] = ()
    pending_invitations: tuple[tuple[str, str], ...] = ()  # (e-mail, role key)
    plan: str | None = None  # billing plan; None keeps the sign-up default (Trial / Partner)


# Chen Jing, the group's quality lead, works for both plants: the person who
# shows the tenant switcher.
CHEN_JING = Person("陈静 Chen Jing", "chen.jing@jiangnan-copper.example.com")

COMPANIES: tuple[Company, ...] = (
    Company(
        name="华东铝业 East China Aluminium", kind="plant",
        site=DemoSite("Wuxi cold rolling mill 无锡冷轧厂", "WX", "Xishan District, Wuxi, Jiangsu"),
        extra_sites=(DemoSite("Changzhou finishing plant 常州精整厂", "CZ", "Wujin District, Changzhou, Jiangsu"),),
        owner=Person("张伟 Zhang Wei", "zhang.wei@eastchina-al.example.com"),
        members=(
            (Person("王芳 Wang Fang", "wang.fang@eastchina-al.example.com"), "admin"),
            (Person("刘洋 Liu Yang", "liu.yang@eastchina-al.example.com"), "planner"),
            (Person("赵磊 Zhao Lei", "zhao.lei@eastchina-al.example.com"), "operator"),
            (CHEN_JING, "quality"),
            (Person("孙浩 Sun Hao", "sun.hao@eastchina-al.example.com"), "maintenance"),
        ),
        pending_invitations=(("new.operator@eastchina-al.example.com", "operator"),),
        plan="professional",
    ),
    Company(
        name="江南铜材 Jiangnan Copper", kind="plant",
        site=DemoSite("Suzhou wire drawing plant 苏州拉丝厂", "SZ", "Wuzhong District, Suzhou, Jiangsu"),
        owner=Person("黄敏 Huang Min", "huang.min@jiangnan-copper.example.com"),
        members=(
            (Person("周强 Zhou Qiang", "zhou.qiang@jiangnan-copper.example.com"), "planner"),
            (Person("吴涛 Wu Tao", "wu.tao@jiangnan-copper.example.com"), "operator"),
            (CHEN_JING, "quality"),
            (Person("郑凯 Zheng Kai", "zheng.kai@jiangnan-copper.example.com"), "maintenance"),
        ),
        plan="starter",
    ),
    Company(
        name="Precision Bearings Supply", kind="supplier",
        site=DemoSite("Ningbo warehouse", "NB", "Beilun District, Ningbo, Zhejiang"),
        owner=Person("Tom Becker", "tom.becker@precision-bearings.example.com"),
        members=((Person("Lisa Wang", "lisa.wang@precision-bearings.example.com"), "viewer"),),
    ),
    Company(
        name="Rolling Mill Diagnostics", kind="expert",
        site=DemoSite("Shanghai office", "SH", "Pudong, Shanghai"),
        owner=Person("Maria Rossi", "maria.rossi@rollingmill-diagnostics.example.com"),
        members=((Person("Erik Larsen", "erik.larsen@rollingmill-diagnostics.example.com"), "maintenance"),),
    ),
)


# AlloyHub's own staff: assigns plans in the operator admin (/operator/tenants)
# when Stripe billing is off, as it is in the embedded demo.
OPERATOR = Person("AlloyHub Operator", "operator@alloyhub.example.com")


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created)


@dataclass(frozen=True)
class Login:
    company: str
    kind: str
    email: str
    role: str


def demo_logins() -> list[Login]:
    """Who can sign in, for the table `alloyhub up` prints."""
    rows = []
    for company in COMPANIES:
        rows.append(Login(company.name, company.kind, company.owner.email, "owner"))
        rows += [Login(company.name, company.kind, person.email, role) for person, role in company.members]
    return rows


def format_logins() -> str:
    """The demo logins as a table for a terminal (CJK characters are two
    columns wide there, so padding counts display width, not characters)."""
    header = ("company", "kind", "e-mail", "password", "role")
    rows = [header] + [(x.company, x.kind, x.email, DEMO_PASSWORD, x.role) for x in demo_logins()]
    widths = [max(_display_width(row[i]) for row in rows) for i in range(len(header))]

    def line(row) -> str:
        return "  ".join(cell + " " * (w - _display_width(cell)) for cell, w in zip(row, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    operator = (f"\nPlatform operator (no company; plans at /operator/tenants): "
                f"{OPERATOR.email} / {DEMO_PASSWORD}")
    return "\n".join([line(header), rule, *(line(r) for r in rows[1:])]) + "\n" + operator


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# Rooms add their own demo data (equipment, orders, a simulated agent …)
# through this registry, from their module's init_app, so the platform's seed
# never imports a room. Each seeder is called once per demo company, inside
# that company's scope as its owner, after the company is complete, and must
# be idempotent like the rest of the seed.
DemoSeeder = Callable[["Tenant", "Company", "SeedReport"], None]
DEMO_SEEDERS: list[DemoSeeder] = []


def register_demo_seeder(fn: DemoSeeder) -> DemoSeeder:
    if fn not in DEMO_SEEDERS:
        DEMO_SEEDERS.append(fn)
    return fn


def seed(base_url: str = "http://127.0.0.1:5000") -> SeedReport:
    """Create whatever of the demo data is missing. Needs an app context."""
    report = SeedReport()
    for company in COMPANIES:
        _seed_company(company, base_url, report)
    _seed_operator(report)
    for company in COMPANIES:
        _seed_rooms(company, report)
    return report


def _seed_rooms(company: Company, report: SeedReport) -> None:
    owner = services.user_by_email(company.owner.email)
    tenant = _find_tenant(company, owner)
    for seeder in DEMO_SEEDERS:
        with tenancy.scoped(tenant.id, owner.id, session=db.session):
            seeder(tenant, company, report)
            db.session.commit()


def _seed_operator(report: SeedReport) -> None:
    """A platform staff account, unless the platform has one already."""
    from .identity import passwords

    if db.session.scalar(select(User.id).where(User.is_platform_staff.is_(True)).limit(1)) is not None:
        return
    user = services.user_by_email(OPERATOR.email)
    if user is None:
        user = User(email=OPERATOR.email, name=OPERATOR.name, password_hash=passwords.hash_password(DEMO_PASSWORD))
        db.session.add(user)
    user.is_platform_staff = True
    db.session.commit()
    report.created.append(f"platform operator {OPERATOR.email}")


def _seed_plan(tenant: Tenant, company: Company, report: SeedReport) -> None:
    """The demo plan, set as the operator would; a plan changed since (by the
    operator or Stripe) is left alone."""
    from .billing import services as billing

    if company.plan is None:
        return
    with tenancy.system_context(db.session):
        sub = billing.subscription_of(tenant.id)
        wanted = sub.source == "signup" and sub.plan_key != company.plan
    if wanted:
        billing.override_plan(tenant.id, company.plan, reason="demo data")
        report.created.append(f"plan {company.plan} for {company.name}")


def _find_tenant(company: Company, owner: User | None) -> Tenant | None:
    tenant = db.session.scalar(select(Tenant).where(Tenant.name == company.name))
    if tenant is None and owner is not None:
        # Renamed in the UI since the last seed: still the same company.
        tenant = next((t for t in services.tenants_of(owner.id) if t.kind == company.kind), None)
    return tenant


def _seed_company(company: Company, base_url: str, report: SeedReport) -> None:
    owner = services.user_by_email(company.owner.email)
    tenant = _find_tenant(company, owner)
    if tenant is None:
        if owner is None:
            owner, tenant = services.sign_up(company_name=company.name, kind=company.kind,
                                             site_name=company.site.name, name=company.owner.name,
                                             email=company.owner.email, password=DEMO_PASSWORD)
        else:
            tenant = services.create_tenant(company.name, company.kind, company.site.name, owner)
            db.session.commit()
        report.created.append(f"company {company.name}")
    with tenancy.scoped(tenant.id, owner.id, session=db.session):
        _seed_sites(company, report)
    for person, role_key in company.members:
        _seed_member(tenant, owner, person, role_key, base_url, report)
    _seed_plan(tenant, company, report)
    with tenancy.scoped(tenant.id, owner.id, session=db.session):
        for email, role_key in company.pending_invitations:
            if db.session.scalar(services.invitations_query(pending_only=False).where(Invitation.email == email)):
                continue
            services.invite(email=email, role_id=_role_id(role_key), base_url=base_url)
            report.created.append(f"invitation {email} → {company.name}")


def _seed_sites(company: Company, report: SeedReport) -> None:
    # Sign-up names the first site after the company's main site but gives it
    # the code MAIN; the demo's own code is nicer to read.
    main = db.session.scalar(select(Site).where(Site.code == "MAIN"))
    if main is not None and main.name == company.site.name:
        services.update_site(main, code=company.site.code, address=company.site.address)
    for site in company.extra_sites:
        if db.session.scalar(select(Site).where(Site.code == site.code)) is None:
            services.create_site(name=site.name, code=site.code, address=site.address)
            report.created.append(f"site {site.code} of {company.name}")


def _seed_member(tenant: Tenant, owner: User, person: Person, role_key: str, base_url: str,
                 report: SeedReport) -> None:
    """Invite the person as the owner would, and accept as they would."""
    user = services.user_by_email(person.email)
    with tenancy.scoped(tenant.id, owner.id, session=db.session):
        if user is not None and db.session.scalar(select(Membership).where(Membership.user_id == user.id)):
            return
        _, token = services.invite(email=person.email, role_id=_role_id(role_key), base_url=base_url)
    if user is None:
        services.accept_invitation(token, name=person.name, password=DEMO_PASSWORD)
    else:
        services.accept_invitation(token, user=user)
    report.created.append(f"{role_key} {person.email} in {tenant.name}")


def _role_id(key: str):
    return db.session.scalar(select(Role.id).where(Role.key == key))
