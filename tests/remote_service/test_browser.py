"""The whole path of issue 7 in Chromium, two companies in two browser
profiles: an alarm on the plant's unit → the plant opens a service request
from the alarm's page → grants the expert firm its unit's tags for 48 h,
commands allowed → the expert opens the workspace, sees the trend of stored
points and annotates it → proposes a command (a write on the agent's
allow-list) → the plant engineer approves → the real agent (`alloyhub-agent
run`, on the real broker) executes it and acknowledges on its cmd/ack topic,
which the real ingest (`Ingestor.run`, subscribed on the broker) hands to the
agents room → the expert writes the findings and the PDF report is delivered
to the plant, which downloads it."""
from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, text

from alloyhub.platform.db import db

from tests.factories import PASSWORD
from tests.remote_service.conftest import SIM_CONFIG

WRITABLE = "sim.fault.stoppage"  # the simulator's fault switch: a write the real agent carries out


def _sign_in(new_context, live_server, email):
    page = new_context().new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/signin")
    page.get_by_test_id("email").fill(email)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{live_server}/")
    return page, errors


@pytest.fixture
def live_ingest(app):
    """The ingest's MQTT loop in a thread, in a share group of its own (other
    ingests on the machine's broker must not take this test's messages) and
    with no session left behind on the broker."""
    from alloyhub.tenants.telemetry import ingest

    tag = secrets.token_hex(4)
    settings = ingest.settings_from_app(app, client_id=f"rs-browser-{tag}")
    settings.share_group, settings.session_expiry = f"rs-browser-{tag}", 0
    ing = ingest.Ingestor(settings, app)
    thread = threading.Thread(target=ing.run, name="remote-ingest", daemon=True)
    thread.start()
    assert ing.connected.wait(15), "the ingest could not connect to the broker"
    yield ing
    ing.stop.set()
    thread.join(15)


@pytest.fixture
def real_agent(app, world, tmp_path, live_ingest, owner_engine):
    """`alloyhub-agent run` as the plant's agent, with the agent's own
    configuration (simulator, allow-list) as the cloud would push it."""
    from alloyhub.tenants.agents import services as agents
    from alloyhub.tenants.agents.models import Agent
    from alloyhub.tenants.equipment import services as equipment

    w = world
    with w.plant.act():
        agent = db.session.scalar(select(Agent).where(Agent.id == w.agent_id))
        agents.set_config(agent, {**SIM_CONFIG, "allow_write": ["line1.speed", WRITABLE]})
        equipment.add_unit_tag(equipment.get_unit(w.cm1), agent_id=w.agent_id, tag=WRITABLE, role="other")
        config, prefix = agents.config_message(agent), agent.topic_prefix
    settings = tmp_path / "agent.json"
    settings.write_text(json.dumps({
        "agent_id": str(w.agent_id), "mqtt": {"url": app.config["MQTT_URL"],
                                              "client_id": f"agent-{w.agent_id}"[:64]},
        "topic_prefix": prefix, "buffer_path": str(tmp_path / "buffer.db"), "heartbeat_s": 1.0,
        "compress": False, "config": config}))
    log = open(tmp_path / "agent.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "alloyhub_agent", "run", "--config", str(settings)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        # Online once its state came through the broker and the ingest: subscribed to its cmd topic by then.
        deadline = time.monotonic() + 30
        seen = None
        while seen is None and time.monotonic() < deadline and proc.poll() is None:
            with owner_engine.connect() as conn:
                seen = conn.execute(text("select last_seen_at from agents where id = :id"),
                                    {"id": w.agent_id}).scalar()
            time.sleep(0.2)
        assert seen is not None, (tmp_path / "agent.log").read_text(errors="replace")[-2000:]
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _raise_alarm(w, ingestor):
    """A tension above the rule's limit, through the ingest's store-then-hooks path."""
    now = datetime.now(timezone.utc).isoformat()
    batch = {"agent": str(w.agent_id), "seq": 10_000, "sent_at": now,
             "points": [{"tag": "line1.tension", "ts": now, "v": 80.0, "q": 192}]}
    ingestor.process([(10_000, 1, f"ah/v1/{w.agent_id}/telemetry", json.dumps(batch).encode(), None)])


def test_alarm_to_report_across_two_companies(app, live_server, new_context, world, ingestor, real_agent, relay,
                                              owner_engine):
    w = world
    relay()  # the agent's configuration goes out (retained), as after any change
    _raise_alarm(w, ingestor)
    plant, plant_errors = _sign_in(new_context, live_server, w.plant.made.owner_email)
    expert, expert_errors = _sign_in(new_context, live_server, w.expert.made.owner_email)

    # The alarm's page offers a service request; the form knows the unit and the alarm's tag.
    plant.goto(f"{live_server}/alarms/{w.alarm_id}")
    expect(plant.get_by_test_id("alarm-state")).not_to_have_text("Normal")
    plant.get_by_test_id("remote-service-link").click()
    form = plant.get_by_test_id("request-form")
    expect(form).to_contain_text("CM1")
    expect(form).to_contain_text("Tension high")
    plant.get_by_test_id("title").fill("CM1 tension alarm")
    plant.get_by_test_id("symptoms").fill("Tension above 50 kN twice a shift")
    plant.get_by_test_id("urgency").select_option("high")
    plant.get_by_test_id("profile-choice").select_option(str(w.profile_id))
    plant.get_by_test_id("open-request").click()
    expect(plant.get_by_test_id("state")).to_have_text("Invited")
    request_url = plant.url.split("#")[0]
    req_id = re.search(r"/remote/requests/([0-9a-f-]{36})", request_url).group(1)

    # The expert takes it; nothing is visible before the plant grants access.
    expert.goto(request_url)
    expert.get_by_test_id("step-accept").click()
    expect(expert.get_by_test_id("state")).to_have_text("In diagnosis")
    expect(expert.get_by_test_id("no-access")).to_be_visible()

    # The plant grants the unit's tags for 48 h, commands allowed (each still needs approval).
    plant.reload()
    grant_form = plant.get_by_test_id("grant-form")
    expect(grant_form.locator(f'input[name="tag"][value="{w.agent_id}|{WRITABLE}"]')).to_be_checked()
    plant.get_by_test_id("may-propose").check()
    plant.get_by_test_id("grant").click()
    expect(plant.locator('[data-testid="grant-row"][data-state="active"]')).to_have_count(1)

    # The expert's workspace: the trend of the granted tags, drawn from stored points.
    expert.goto(request_url)
    expert.get_by_test_id("open-workspace").click()
    chart = expert.get_by_test_id("trend-chart")
    expect(chart).to_have_attribute("data-series", re.compile(r"line1\.speed"))
    assert int(chart.get_attribute("data-points")) > 100  # two hours at 10 s, and more from the agent
    expect(expert.locator("body")).not_to_contain_text("line1.secret")  # the other unit's tag is not granted
    expert.locator("#trend .u-over").click()
    expect(expert.get_by_test_id("ann-from")).not_to_have_value("")
    expert.get_by_test_id("ann-tag").select_option("line1.speed")
    expert.get_by_test_id("ann-body").fill("Speed steps down here, tension follows 2 s later")
    expert.get_by_test_id("annotate").click()
    expect(expert.get_by_test_id("annotations").first).to_contain_text("Speed steps down here")

    # The expert proposes a write on the agent's allow-list.
    expert.get_by_test_id("command-kind").select_option("write")
    expert.get_by_test_id("command-target").select_option(f"{w.agent_id}|{WRITABLE}")
    expert.get_by_test_id("command-value").fill("1")
    expert.get_by_test_id("command-reason").fill("Stop the line to check the tension loop")
    expert.get_by_test_id("propose").click()
    expect(expert.get_by_test_id("ws-command")).to_contain_text("Waiting for approval")

    # The plant engineer approves; the relay sends it down; the agent acknowledges through the broker.
    plant.goto(request_url)
    row = plant.get_by_test_id("command-row")
    expect(row).to_have_attribute("data-status", "pending_approval")
    row.get_by_test_id("approve").click()
    expect(plant.get_by_test_id("command-row")).to_have_attribute("data-status", re.compile("approved|sent"))
    relay()
    deadline = time.monotonic() + 30
    while plant.get_by_test_id("command-row").get_attribute("data-status") != "acked" \
            and time.monotonic() < deadline:
        time.sleep(0.5)
        plant.reload()
    expect(plant.get_by_test_id("command-row")).to_have_attribute("data-status", "acked")
    with owner_engine.connect() as conn:
        result = conn.execute(text("select c.result from agent_commands c join remote_commands r "
                                   "on r.agent_command_id = c.id where r.request_id = :id"), {"id": req_id}).scalar()
    assert result["ok"] is True and result["result"] == {"fault": "stoppage", "active": True}  # the simulator's answer
    assert real_agent.poll() is None  # the agent carried on running

    # The expert reports; the plant gets the PDF.
    expert.goto(request_url)
    expert.get_by_test_id("findings-input").fill("The tension controller's integral gain is too high.")
    expert.get_by_test_id("action-0").fill("Lower the integral gain of the tension loop by 20 %")
    expert.get_by_test_id("hours").fill("1.5")
    expert.get_by_test_id("resolve").click()
    expect(expert.get_by_test_id("state")).to_have_text("Report delivered")

    plant.goto(request_url)
    expect(plant.get_by_test_id("findings")).to_contain_text("integral gain")
    report = plant.get_by_test_id("report")
    expect(report).to_be_visible()
    pdf = plant.request.get(live_server + report.get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    expect(plant.locator('[data-testid="activity-row"][data-action="remote_service.read"]').first).to_be_visible()
    assert plant_errors == [] and expert_errors == []

