"""Outgoing e-mail, sent through the outbox so a mail server outage loses
nothing. Without MAIL_SERVER (embedded mode) mails are printed to the console."""
from __future__ import annotations

import logging
import smtplib
import sys
from email.message import EmailMessage

from flask import current_app

from . import outbox

log = logging.getLogger(__name__)
TOPIC = "mail.send"


def queue(to: str, subject: str, body: str) -> None:
    """Queue a mail in the current transaction."""
    outbox.publish(TOPIC, {"to": to, "subject": subject, "body": body})


@outbox.subscribe(TOPIC)
def deliver(event) -> None:
    cfg = current_app.config
    msg = EmailMessage()
    msg["From"] = cfg["MAIL_FROM"]
    msg["To"] = event.payload["to"]
    msg["Subject"] = event.payload["subject"]
    msg.set_content(event.payload["body"])
    if not cfg.get("MAIL_SERVER"):
        print(f"\n----- mail to {msg['To']} -----\nSubject: {msg['Subject']}\n\n{event.payload['body']}\n"
              "----- end of mail -----", file=sys.stderr, flush=True)
        return
    with smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=20) as smtp:
        if cfg.get("MAIL_USE_TLS"):
            smtp.starttls()
        if cfg.get("MAIL_USERNAME"):
            smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"] or "")
        smtp.send_message(msg)
