"""Enrolment: exchange a one-time token for the agent's own MQTT credentials."""
from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request

from . import __version__
from .settings import Settings


class EnrollError(Exception):
    """The cloud refused the enrolment; the message is the problem's detail."""


def request_enrolment(url: str, token: str, timeout: float = 30.0) -> dict:
    body = json.dumps({"token": token, "hostname": socket.gethostname(),
                       "agent_version": __version__}).encode()
    req = urllib.request.Request(
        url.rstrip("/") + "/api/v1/agents/enroll", data=body, method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json, application/problem+json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            problem = json.loads(raw)
            detail = problem.get("detail") or problem.get("title")
        except (ValueError, AttributeError):
            detail = None
        raise EnrollError(detail or f"HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise EnrollError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from None


def enroll(url: str, token: str, config_path: str) -> Settings:
    answer = request_enrolment(url, token)
    try:
        mqtt = answer["mqtt"]
        settings = Settings(
            agent_id=str(answer["agent_id"]),
            tenant_id=answer.get("tenant_id"),
            mqtt_url=mqtt["url"],
            username=mqtt.get("username"),
            password=mqtt.get("password"),
            client_id=mqtt.get("client_id"),
            topic_prefix=answer.get("topic_prefix") or "",
            config=answer.get("config"),
        )
    except (KeyError, TypeError) as e:
        raise EnrollError(f"unexpected enrolment answer (missing {e})") from None
    base = os.path.dirname(os.path.abspath(config_path))
    os.makedirs(base, mode=0o700, exist_ok=True)
    if answer.get("ca_cert"):
        ca_path = os.path.join(base, "ca.pem")
        with open(ca_path, "w", encoding="utf-8") as f:
            f.write(answer["ca_cert"])
        settings.ca_file = ca_path
    settings.buffer_path = os.path.join(base, "buffer.db")
    settings.save(config_path)
    return settings
