"""The alarm rule engine and the ISA-18.2 state machine, with controlled
timestamps: deadband, on-delay, rate of change, replays and late points,
stale data and agent offline through the periodic check, shelving,
suppression, notifications."""
from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.platform.outbox import OutboxEvent
from alloyhub.tenants.alarms import services
from alloyhub.tenants.alarms.models import (
    ACTIVE_ACKED, ACTIVE_UNACKED, NORMAL, RETURNED_UNACKED, SHELVED, STATES, SUPPRESSED, Alarm, AlarmEvent,
)
from alloyhub.tenants.agents.models import Agent

T0 = datetime(2026, 3, 1, 8, 0, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# ---------------------------------------------------------------- helpers (also used by the API and page tests)

def make_agent(app, made, name: str | None = None, **fields):
    with app.app_context(), tenancy.scoped(made.tenant_id, made.owner_id, session=db.session):
        agent = Agent(name=name or f"Cold mill {secrets.token_hex(2)}", status="active", **fields)
        db.session.add(agent)
        db.session.commit()
        return agent.id


def make_rule(app, made, agent_id, **fields):
    values = {"name": "Strip tension high", "kind": "high", "tag": "strip.tension", "limit": 100.0,
              "priority": "high", **fields}
    with app.app_context(), tenancy.scoped(made.tenant_id, made.owner_id, session=db.session):
        rule = services.create_rule(agent_id=agent_id, **values)
        return rule.id, rule.alarm.id


def points(*items, tag="strip.tension"):
    return [{"tag": tag, "ts": at(t), "v": v, "q": "good"} for t, v in items]


class Plant:
    """One tenant with one agent, and shortcuts to drive and read its alarms."""

    def __init__(self, app, made):
        self.app, self.made = app, made
        self.agent_id = make_agent(app, made)

    def rule(self, **fields):
        self.rule_id, self.alarm_id = make_rule(self.app, self.made, self.agent_id, **fields)
        return self.alarm_id

    def feed(self, *items, tag="strip.tension", now=None):
        with self.app.app_context():
            services.evaluate_points(self.made.tenant_id, self.agent_id, points(*items, tag=tag), now=now)

    def check(self, now):
        with self.app.app_context(), tenancy.scoped(self.made.tenant_id, session=db.session):
            services.check_tenant(now)
            db.session.commit()

    def scoped(self):
        ctx = self.app.app_context()
        ctx.push()
        scope = tenancy.scoped(self.made.tenant_id, self.made.owner_id, session=db.session)
        scope.__enter__()
        return ctx, scope

    def alarm(self) -> Alarm:
        with self.app.app_context(), tenancy.scoped(self.made.tenant_id, session=db.session):
            alarm = services.get_alarm(self.alarm_id)
            db.session.expunge_all()
            return alarm

    def state(self) -> str:
        return self.alarm().state

    def act(self, fn, *args):
        with self.app.app_context(), tenancy.scoped(self.made.tenant_id, self.made.owner_id, session=db.session):
            return fn(services.get_alarm(self.alarm_id), *args)

    def history(self) -> list[tuple]:
        with self.app.app_context(), tenancy.scoped(self.made.tenant_id, session=db.session):
            rows = db.session.scalars(select(AlarmEvent).where(AlarmEvent.alarm_id == self.alarm_id)
                                      .order_by(AlarmEvent.at, AlarmEvent.ts)).all()
            return [(e.event, e.from_state, e.to_state, e.ts, e.user_id) for e in rows]

    def outbox(self, topic: str) -> list[dict]:
        with self.app.app_context(), tenancy.system_context(db.session):
            return [e.payload for e in db.session.scalars(
                select(OutboxEvent).where(OutboxEvent.topic == topic, OutboxEvent.tenant_id == self.made.tenant_id)
                .order_by(OutboxEvent.created_at))]


@pytest.fixture
def plant(app, tenant_factory):
    return Plant(app, tenant_factory())


# ---------------------------------------------------------------- the state machine, table-driven

# (state, event, condition after the event) -> new state; every pair not listed changes nothing.
TABLE = [
    (NORMAL, "activate", True, ACTIVE_UNACKED),
    (ACTIVE_UNACKED, "ack", True, ACTIVE_ACKED),             # acknowledged while active
    (ACTIVE_UNACKED, "return", False, RETURNED_UNACKED),     # returned before anyone acknowledged
    (ACTIVE_ACKED, "return", False, NORMAL),
    (RETURNED_UNACKED, "ack", False, NORMAL),
    (RETURNED_UNACKED, "activate", True, ACTIVE_UNACKED),    # came back before the acknowledgement
    (NORMAL, "shelve", False, SHELVED),
    (ACTIVE_UNACKED, "shelve", True, SHELVED),
    (ACTIVE_ACKED, "shelve", True, SHELVED),
    (RETURNED_UNACKED, "shelve", False, SHELVED),
    (SHELVED, "unshelve", True, ACTIVE_UNACKED),             # still in alarm: announced again
    (SHELVED, "unshelve", False, NORMAL),
    (NORMAL, "suppress", False, SUPPRESSED),
    (ACTIVE_UNACKED, "suppress", True, SUPPRESSED),
    (ACTIVE_ACKED, "suppress", True, SUPPRESSED),
    (RETURNED_UNACKED, "suppress", False, SUPPRESSED),
    (SHELVED, "suppress", False, SUPPRESSED),
    (SUPPRESSED, "unsuppress", True, ACTIVE_UNACKED),
    (SUPPRESSED, "unsuppress", False, NORMAL),
]


@pytest.mark.parametrize("state,event,condition,expected", TABLE)
def test_transition(state, event, condition, expected):
    assert services.next_state(state, event, condition) == expected


def test_every_other_pair_changes_nothing():
    listed = {(s, e) for s, e, _, _ in TABLE}
    moving = [(s, e) for s in STATES for e in services.EVENTS for c in (True, False)
              if (s, e) not in listed and services.next_state(s, e, c) is not None]
    assert moving == []
    # Among them, the ones people notice: the condition changing while shelved,
    # suppressed or already acknowledged, and acknowledging what needs none.
    for state in (SHELVED, SUPPRESSED):
        for event in ("activate", "return", "ack", "shelve"):
            assert services.next_state(state, event, True) is None
    assert services.next_state(ACTIVE_ACKED, "activate", True) is None
    assert services.next_state(NORMAL, "ack", False) is None


# ---------------------------------------------------------------- limits, deadband, on-delay

def test_high_limit_full_cycle_with_deadband(plant):
    plant.rule(limit=100.0, deadband=5.0)
    plant.feed((0, 99.0))
    assert plant.state() == NORMAL
    plant.feed((1, 101.0))
    assert plant.state() == ACTIVE_UNACKED
    alarm = plant.alarm()
    assert alarm.raised_at == at(1) and alarm.value == 101.0
    plant.feed((2, 97.0), (3, 99.9))  # inside the limit but within the deadband: still active
    assert plant.state() == ACTIVE_UNACKED
    plant.act(services.acknowledge, "seen, reducing tension")
    assert plant.state() == ACTIVE_ACKED
    plant.feed((4, 94.9))
    assert plant.state() == NORMAL
    history = plant.history()
    assert [h[:3] for h in history] == [("activate", NORMAL, ACTIVE_UNACKED), ("ack", ACTIVE_UNACKED, ACTIVE_ACKED),
                                        ("return", ACTIVE_ACKED, NORMAL)]
    assert history[0][3] == at(1) and history[2][3] == at(4)  # point times, not wall clock
    assert history[1][4] == plant.made.owner_id  # who acknowledged
    assert [p["alarm_id"] for p in plant.outbox("alarm.raised")] == [str(plant.alarm_id)]
    assert len(plant.outbox("alarm.cleared")) == 1


def test_return_before_acknowledgement(plant):
    plant.rule(limit=100.0)
    plant.feed((0, 120.0), (1, 80.0))
    assert plant.state() == RETURNED_UNACKED
    plant.feed((2, 130.0))  # back before anyone acknowledged: announced again
    assert plant.state() == ACTIVE_UNACKED
    plant.feed((3, 10.0))
    plant.act(services.acknowledge, None)
    assert plant.state() == NORMAL
    assert len(plant.outbox("alarm.raised")) == 2


def test_low_limit(plant):
    plant.rule(kind="low", limit=2.0, deadband=0.5, tag="mill.speed", name="Mill stopped")
    plant.feed((0, 3.0), (1, 1.9), tag="mill.speed")
    assert plant.state() == ACTIVE_UNACKED
    plant.feed((2, 2.4), tag="mill.speed")
    assert plant.alarm().condition is True
    plant.feed((3, 2.6), tag="mill.speed")
    assert plant.state() == RETURNED_UNACKED


def test_on_delay_counts_point_time_and_restarts(plant):
    plant.rule(limit=100.0, on_delay_s=10)
    plant.feed((0, 101.0), (5, 102.0))
    assert plant.state() == NORMAL
    plant.feed((6, 99.0))  # back inside: the count restarts
    plant.feed((8, 101.0), (17, 101.0))
    assert plant.state() == NORMAL  # 9 s beyond the limit, not 10
    plant.feed((18, 103.0))
    assert plant.state() == ACTIVE_UNACKED
    assert plant.alarm().raised_at == at(18)


def test_replayed_and_late_points_never_flap(plant):
    plant.rule(limit=100.0)
    plant.feed((10, 110.0))
    assert plant.state() == ACTIVE_UNACKED
    # A replayed batch and a late point from before: already decided, ignored.
    plant.feed((5, 50.0), (10, 50.0))
    assert plant.state() == ACTIVE_UNACKED and plant.alarm().condition is True
    # Points out of order inside one batch are evaluated in time order: 12 returns, then 15 raises again.
    plant.feed((15, 120.0), (12, 40.0))
    assert plant.state() == ACTIVE_UNACKED
    assert [h[0] for h in plant.history()] == ["activate", "return", "activate"]
    assert plant.alarm().last_ts == at(15)


def test_bad_quality_and_text_values_are_skipped(plant):
    plant.rule(limit=100.0)
    with plant.app.app_context():
        services.evaluate_points(plant.made.tenant_id, plant.agent_id, [
            {"tag": "strip.tension", "ts": at(1), "v": 500.0, "q": "bad"},
            {"tag": "strip.tension", "ts": at(2), "v": "jam", "q": "good"},
            {"tag": "strip.tension", "ts": "not a time", "v": 500.0, "q": "good"},
            {"ts": at(3), "v": 500.0},
        ])
    assert plant.state() == NORMAL


def test_rate_of_change_per_minute(plant):
    plant.rule(kind="rate", limit=10.0, deadband=2.0, tag="furnace.temp", name="Furnace heating too fast")
    plant.feed((0, 600.0), (60, 605.0), tag="furnace.temp")  # 5 per minute
    assert plant.state() == NORMAL
    plant.feed((90, 612.0), tag="furnace.temp")  # 7 in 30 s: 14 per minute
    assert plant.state() == ACTIVE_UNACKED
    assert plant.alarm().value == pytest.approx(14.0)
    plant.feed((150, 621.0), tag="furnace.temp")  # 9 per minute: within the deadband (8)
    assert plant.alarm().condition is True
    plant.feed((210, 628.0), tag="furnace.temp")  # 7 per minute
    assert plant.state() == RETURNED_UNACKED
    plant.feed((240, 610.0), tag="furnace.temp")  # falling 36 per minute counts too
    assert plant.state() == ACTIVE_UNACKED


# ---------------------------------------------------------------- the periodic check: stale data, agent offline

def test_stale_data_from_the_latest_values(plant, app):
    plant.rule(kind="stale", tag="mill.speed", timeout_s=60, limit=None, name="Mill speed stale")
    key = f"ah:latest:{plant.made.tenant_id}:{plant.agent_id}"
    with app.app_context():
        from alloyhub.platform.jobs import redis

        redis().hset(key, "mill.speed", json.dumps({"v": 12.5, "ts": at(0).isoformat(), "q": "good"}))
    try:
        plant.check(at(30))
        assert plant.state() == NORMAL
        plant.check(at(61))
        assert plant.state() == ACTIVE_UNACKED
        # Data flows again: the next point returns it (compared with the time it arrives).
        plant.feed((100, 13.0), tag="mill.speed", now=at(101))
        assert plant.state() == RETURNED_UNACKED
        plant.check(at(120))
        assert plant.state() == RETURNED_UNACKED  # 20 s old: fresh
    finally:
        with app.app_context():
            redis().delete(key)


def test_stale_without_any_point_counts_from_the_rule(plant):
    plant.rule(kind="stale", tag="never.sent", timeout_s=60, name="Never sent")
    created = plant.alarm().created_at
    plant.check(created + timedelta(seconds=30))
    assert plant.state() == NORMAL
    plant.check(created + timedelta(seconds=90))
    assert plant.state() == ACTIVE_UNACKED


def _set_agent(plant, **fields):
    with plant.app.app_context(), tenancy.scoped(plant.made.tenant_id, session=db.session):
        agent = db.session.scalar(select(Agent).where(Agent.id == plant.agent_id))
        for key, value in fields.items():
            setattr(agent, key, value)
        db.session.commit()


def test_agent_offline(plant):
    plant.rule(kind="offline", tag=None, timeout_s=120, name="Agent offline", priority="critical")
    _set_agent(plant, last_seen_at=at(0), health={"online": True})
    plant.check(at(60))
    assert plant.state() == NORMAL
    plant.check(at(121))
    assert plant.state() == ACTIVE_UNACKED
    _set_agent(plant, last_seen_at=at(200))
    plant.check(at(210))
    assert plant.state() == RETURNED_UNACKED
    # The Last Will says offline, however recent the last sign of life.
    _set_agent(plant, health={"online": False})
    plant.check(at(211))
    assert plant.state() == ACTIVE_UNACKED


# ---------------------------------------------------------------- shelving and suppression

def test_shelve_hides_and_expiry_announces_again(plant):
    plant.rule(limit=100.0)
    plant.feed((0, 150.0))
    plant.act(services.shelve, "sensor being recalibrated", 60)
    alarm = plant.alarm()
    assert alarm.state == SHELVED and alarm.shelved_reason == "sensor being recalibrated"
    assert alarm.shelved_by == plant.made.owner_id
    plant.feed((10, 50.0), (20, 160.0))  # tracked, not announced
    assert plant.state() == SHELVED and plant.alarm().condition is True
    plant.check(datetime.now(timezone.utc) + timedelta(minutes=30))
    assert plant.state() == SHELVED  # not expired yet
    plant.check(datetime.now(timezone.utc) + timedelta(minutes=61))
    assert plant.state() == ACTIVE_UNACKED  # expired with the condition still there
    last = plant.history()[-1]
    assert last[:3] == ("unshelve", SHELVED, ACTIVE_UNACKED) and last[4] is None  # by the system


def test_unshelve_by_hand_when_the_condition_has_gone(plant):
    plant.rule(limit=100.0)
    plant.feed((0, 150.0))
    plant.act(services.shelve, "nuisance", 30)
    plant.feed((5, 10.0))
    plant.act(services.unshelve)
    assert plant.state() == NORMAL


def test_shelve_needs_a_reason_and_a_bounded_time(plant):
    from alloyhub.platform.errors import Conflict, ValidationFailed

    plant.rule(limit=100.0)
    with pytest.raises(ValidationFailed) as err:
        plant.act(services.shelve, "  ", 0)
    assert set(err.value.errors) == {"reason", "minutes"}
    with pytest.raises(ValidationFailed):
        plant.act(services.shelve, "x", 7 * 24 * 60 + 1)
    with pytest.raises(Conflict):
        plant.act(services.acknowledge, None)  # normal: nothing to acknowledge
    with pytest.raises(Conflict):
        plant.act(services.unshelve)


def test_maintenance_suppresses_and_releases_by_condition(plant):
    plant.rule(limit=100.0)
    ctx, scope = plant.scoped()
    try:
        window = services.start_maintenance(plant.agent_id, None, "roll change")
        window_id = window.id
    finally:
        scope.__exit__(None, None, None)
        ctx.pop()
    assert plant.state() == SUPPRESSED
    plant.feed((0, 150.0))
    assert plant.state() == SUPPRESSED and plant.alarm().condition is True
    assert plant.outbox("alarm.raised") == []  # nothing announced during maintenance
    with pytest.raises(Exception):
        plant.act(services.shelve, "x", 10)
    ctx, scope = plant.scoped()
    try:
        services.end_maintenance(services.get_window(window_id))
    finally:
        scope.__exit__(None, None, None)
        ctx.pop()
    assert plant.state() == ACTIVE_UNACKED
    assert [h[:3] for h in plant.history()] == [("suppress", NORMAL, SUPPRESSED),
                                                ("unsuppress", SUPPRESSED, ACTIVE_UNACKED)]


def test_maintenance_window_ending_in_time_is_found_by_the_periodic_check(plant):
    plant.rule(limit=100.0)
    ctx, scope = plant.scoped()
    try:
        services.start_maintenance(plant.agent_id, 1.0, "inspection")
    finally:
        scope.__exit__(None, None, None)
        ctx.pop()
    assert plant.state() == SUPPRESSED
    plant.check(datetime.now(timezone.utc) + timedelta(hours=2))
    assert plant.state() == NORMAL


# ---------------------------------------------------------------- notifications

def test_critical_alarm_mails_those_who_may_acknowledge(plant, tenant_factory):
    operator = tenant_factory.add_member(plant.made, "operator")
    viewer = tenant_factory.add_member(plant.made, "viewer")
    plant.rule(limit=100.0, priority="critical", name="Bearing temperature")
    plant.feed((0, 150.0))
    mails = plant.outbox("mail.send")
    recipients = {m["to"] for m in mails}
    assert {plant.made.owner_email, operator} <= recipients
    assert viewer not in recipients
    assert all("Bearing temperature" in m["subject"] for m in mails)


def test_non_critical_alarm_mails_nobody(plant):
    plant.rule(limit=100.0, priority="high")
    plant.feed((0, 150.0))
    assert plant.outbox("alarm.raised") and plant.outbox("mail.send") == []


def test_periodic_check_covers_every_tenant(app, tenant_factory):
    first, second = Plant(app, tenant_factory()), Plant(app, tenant_factory())
    for p in (first, second):
        p.rule(kind="stale", tag="x", timeout_s=1, name="Stale")
    with app.app_context():
        assert services.check_all(datetime.now(timezone.utc) + timedelta(minutes=5)) >= 2
    assert first.state() == second.state() == ACTIVE_UNACKED


def test_the_telemetry_hook_calls_the_engine(plant, app):
    from alloyhub.tenants.telemetry import hooks

    plant.rule(limit=100.0)
    with app.app_context():
        assert hooks.dispatch(plant.made.tenant_id, plant.agent_id, points((0, 150.0))) == 0
    assert plant.state() == ACTIVE_UNACKED


def test_the_worker_runs_the_check_periodically(app):
    from alloyhub.platform import jobs
    from alloyhub.tenants.alarms import jobs as alarm_jobs

    fn, seconds = jobs.PERIODIC["alloyhub.tenants.alarms.jobs.check_alarms"]
    assert fn is alarm_jobs.check_alarms and seconds > 0
    with app.app_context():
        assert fn() >= 0  # runs across tenants without a scope of its own


def test_batches_for_unwatched_tags_stop_early(plant, app):
    plant.rule(limit=100.0)  # watches strip.tension only
    tenant, agent = plant.made.tenant_id, plant.agent_id
    plant.feed((0, 1.0), tag="mill.speed")  # learns which tags are watched
    assert services.may_match(tenant, agent, points((1, 1.0), tag="mill.speed")) is False
    assert services.may_match(tenant, agent, points((1, 1.0))) is True
    # A rule made in this process is evaluated at once.
    _, speed_alarm = make_rule(app, plant.made, agent, tag="mill.speed", limit=5.0, name="Speed high")
    assert services.may_match(tenant, agent, points((2, 10.0), tag="mill.speed")) is True
    plant.feed((2, 10.0), tag="mill.speed")
    with app.app_context(), tenancy.scoped(tenant, session=db.session):
        assert services.get_alarm(speed_alarm).state == ACTIVE_UNACKED


def test_the_list_puts_what_needs_a_person_first(app, plant):
    ids = {}
    for name, priority, limit in (("quiet", "critical", 1000.0), ("acked", "critical", 10.0),
                                  ("low one", "low", 10.0), ("urgent", "critical", 10.0)):
        ids[name] = make_rule(app, plant.made, plant.agent_id, name=name, priority=priority, limit=limit)[1]
    plant.feed((0, 50.0))
    with app.app_context(), tenancy.scoped(plant.made.tenant_id, plant.made.owner_id, session=db.session):
        services.acknowledge(services.get_alarm(ids["acked"]))
        order = [a.rule.name for a in services.alarm_list()]
        assert order == ["urgent", "low one", "acked", "quiet"]
        assert [a.rule.name for a in services.alarm_list("open")] == ["urgent", "low one", "acked"]


def test_the_worker_loop_calls_periodic_checks(app):
    import threading

    from alloyhub.platform import jobs

    called = threading.Event()
    jobs.PERIODIC["tests.probe"] = (called.set, 60)
    stop = threading.Event()
    loop = threading.Thread(target=jobs._periodic_loop, args=(app, stop), daemon=True)
    loop.start()
    try:
        assert called.wait(30), "the periodic loop never called the check"
    finally:
        stop.set()
        loop.join(10)
        del jobs.PERIODIC["tests.probe"]
