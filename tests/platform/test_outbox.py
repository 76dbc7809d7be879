"""The transactional outbox and the RQ jobs: an event exists only if its
transaction commits, is delivered once, survives a failing handler and is not
delivered twice by two relays at once."""
from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import select

from alloyhub.platform import jobs, outbox, tenancy
from alloyhub.platform.db import db


@pytest.fixture
def topic():
    """A topic of this test's own, with a recording handler; removed afterwards."""
    name = f"test.{uuid.uuid4().hex[:10]}"
    handlers = []

    def on(fn):
        outbox.subscribe(name)(fn)
        handlers.append(fn)
        return fn

    yield name, on
    outbox._handlers.pop(name, None)


def _events(app, topic_name):
    with app.app_context(), tenancy.system_context(db.session):
        events = db.session.scalars(select(outbox.OutboxEvent).where(outbox.OutboxEvent.topic == topic_name)).all()
        db.session.commit()
        return events


def _relay_all(app) -> None:
    with app.app_context():
        while outbox.relay_once():
            pass


def test_rolled_back_transaction_publishes_nothing(app, tenant_factory, topic):
    name, on = topic
    seen = []
    on(lambda event: seen.append(event.id))
    made = tenant_factory()
    with app.app_context():
        with tenancy.scoped(made.tenant_id, made.owner_id, session=db.session):
            outbox.publish(name, {"coil": "24-0117"})
            db.session.flush()
        db.session.rollback()
    _relay_all(app)
    assert _events(app, name) == [] and seen == []


def test_committed_event_is_delivered_once(app, tenant_factory, topic):
    name, on = topic
    seen = []
    on(lambda event: seen.append((event.id, event.tenant_id, event.payload)))
    made = tenant_factory()
    with app.app_context():
        with tenancy.scoped(made.tenant_id, made.owner_id, session=db.session):
            event = outbox.publish(name, {"coil": "24-0117"})
            db.session.commit()
        event_id = event.id
    _relay_all(app)
    _relay_all(app)
    assert seen == [(event_id, made.tenant_id, {"coil": "24-0117"})]
    (stored,) = _events(app, name)
    assert stored.sent_at is not None and stored.attempts == 0


def test_tenant_cannot_read_the_outbox(app, tenant_factory, topic):
    """Events are for the relay only: a tenant's own scope sees none of them."""
    name, _ = topic
    made = tenant_factory()
    with app.app_context():
        with tenancy.scoped(made.tenant_id, made.owner_id, session=db.session):
            outbox.publish(name, {})
            db.session.commit()
        with tenancy.scoped(made.tenant_id, made.owner_id, session=db.session):
            assert db.session.scalars(select(outbox.OutboxEvent).where(outbox.OutboxEvent.topic == name)).all() == []
            db.session.commit()


def test_failing_handler_keeps_the_event_for_a_retry(app, topic):
    name, on = topic
    state = {"fail": True, "delivered": 0}

    @on
    def flaky(event):
        if state["fail"]:
            raise ConnectionError("webhook receiver is down")
        state["delivered"] += 1

    with app.app_context():
        outbox.publish(name, {"n": 1}, tenant_id=None)
        db.session.commit()
    _relay_all(app)
    (event,) = _events(app, name)
    assert event.sent_at is None and event.attempts == 1
    assert "webhook receiver is down" in event.last_error
    assert event.next_attempt_at > event.created_at
    # Not due yet: another relay leaves it alone.
    _relay_all(app)
    (event,) = _events(app, name)
    assert event.attempts == 1 and state["delivered"] == 0
    # Once due and the receiver is back, it is delivered.
    state["fail"] = False
    with app.app_context(), tenancy.system_context(db.session):
        db.session.get(outbox.OutboxEvent, event.id).next_attempt_at = event.created_at
        db.session.commit()
    _relay_all(app)
    (event,) = _events(app, name)
    assert event.sent_at is not None and state["delivered"] == 1


def test_database_error_in_one_handler_spares_the_other_events(app, topic):
    """A handler whose SQL fails aborts only its own event's savepoint: the
    other events of the batch are delivered and their writes kept."""
    from sqlalchemy import text

    name, on = topic
    delivered = []

    @on
    def handler(event):
        if event.payload["n"] == 2:
            db.session.execute(text("SELECT * FROM no_such_table_for_the_outbox_test"))
        delivered.append(event.payload["n"])

    with app.app_context():
        for n in (1, 2, 3):
            outbox.publish(name, {"n": n}, tenant_id=None)
        db.session.commit()
    _relay_all(app)
    events = {e.payload["n"]: e for e in _events(app, name)}
    assert sorted(delivered) == [1, 3]
    assert events[1].sent_at is not None and events[3].sent_at is not None
    assert events[2].sent_at is None and events[2].attempts == 1
    assert "no_such_table_for_the_outbox_test" in events[2].last_error


def test_two_relays_at_once_do_not_deliver_twice(app, topic):
    name, on = topic
    calls = []
    inside, release = threading.Event(), threading.Event()

    @on
    def slow(event):
        calls.append(event.id)
        inside.set()
        release.wait(30)  # holds the first relay's row locks until released

    with app.app_context():
        outbox.publish(name, {"n": 1}, tenant_id=None)
        db.session.commit()

    errors = []

    def relay():
        try:
            with app.app_context():
                outbox.relay_once()
        except Exception as exc:  # reported below
            errors.append(exc)

    first = threading.Thread(target=relay)
    first.start()
    assert inside.wait(30), "the first relay never reached the handler"
    second = threading.Thread(target=relay)
    second.start()
    second.join(30)
    # The second relay skipped the locked row instead of waiting for it...
    second_finished_while_locked = not second.is_alive()
    release.set()
    first.join(30)
    second.join(30)
    assert not errors, errors
    assert second_finished_while_locked, "the second relay waited for the first one's lock (no SKIP LOCKED)"
    # ...and the event was delivered exactly once.
    assert len(calls) == 1
    (event,) = _events(app, name)
    assert event.sent_at is not None


# ------------------------------------------------------------------ RQ

RESULT_KEY = "alloyhub-test:rq:{}"


def record_in_redis(token: str, value: str) -> str:
    """The job body: proves it ran in the worker inside an app context."""
    jobs.redis().set(RESULT_KEY.format(token), value, ex=300)
    return value.upper()


def test_rq_round_trip(app):
    from rq import SimpleWorker

    queue_name = f"test-{uuid.uuid4().hex[:8]}"  # a queue of this test's own
    job_fn = jobs.job(queue_name)(record_in_redis)
    token = uuid.uuid4().hex
    with app.app_context():
        assert job_fn("direct", "x") == "X"  # still callable in-process
        jobs.redis().delete(RESULT_KEY.format("direct"))
        enqueued = job_fn.enqueue(token, "rolled")
        assert jobs.redis().get(RESULT_KEY.format(token)) is None
        worker = SimpleWorker([jobs.queue(queue_name)], connection=jobs.redis())
        assert worker.work(burst=True)
        assert jobs.redis().get(RESULT_KEY.format(token)) == b"rolled"
        enqueued.refresh()
        assert enqueued.get_status() == "finished"
        assert enqueued.return_value() == "ROLLED"
