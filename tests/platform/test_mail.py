"""Mail goes through the outbox to a real SMTP server when one is configured,
and is retried when the server is down."""
import secrets
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from sqlalchemy import select

from alloyhub.platform import mail, outbox, tenancy
from alloyhub.platform.db import db


class Inbox(Message):
    def __init__(self):
        super().__init__()
        self.messages = []

    def handle_message(self, message):
        self.messages.append(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def mail_to(app, smtp_server):
    controller, _ = smtp_server
    saved = {k: app.config.get(k) for k in ("MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port)
    yield f"someone-{secrets.token_hex(4)}@example.com"
    app.config.update(saved)


def _relay_until_quiet(app):
    with app.app_context():
        while outbox.relay_once():
            pass


def test_queued_mail_is_delivered_by_the_relay(app, smtp_server, mail_to):
    _, inbox = smtp_server
    with app.app_context():
        mail.queue(mail_to, "Coil 24-0117 released", "Your coil has passed inspection.")
        db.session.commit()
    _relay_until_quiet(app)
    delivered = [m for m in inbox.messages if m["To"] == mail_to]
    assert len(delivered) == 1
    assert delivered[0]["Subject"] == "Coil 24-0117 released"
    assert "passed inspection" in delivered[0].get_payload()


def test_mail_server_down_keeps_the_mail_for_a_retry(app, mail_to, smtp_server):
    controller, inbox = smtp_server
    app.config["MAIL_PORT"] = _free_port()  # nothing listens there
    with app.app_context():
        mail.queue(mail_to, "Retry me", "body")
        db.session.commit()
    _relay_until_quiet(app)
    with app.app_context(), tenancy.system_context(db.session):
        event = db.session.scalar(select(outbox.OutboxEvent).where(outbox.OutboxEvent.payload["to"].astext == mail_to))
        assert event.sent_at is None and event.attempts == 1 and event.last_error
        event.next_attempt_at = event.created_at  # due again now
        db.session.commit()
    app.config["MAIL_PORT"] = controller.port
    _relay_until_quiet(app)
    assert [m["Subject"] for m in inbox.messages if m["To"] == mail_to] == ["Retry me"]
