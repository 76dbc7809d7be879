"""The tag mapping editor on the agent's page: the structured form (cards,
rows, "writable by commands" boxes) saved through services.set_config,
refused rows shown beside their fields with nothing changed, CSV export and
import of a source's tag table, the JSON box, unknown tags still adoptable,
and the page in Chinese."""
from __future__ import annotations

import csv
import io
import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from sqlalchemy import func, select

from alloyhub.platform import tenancy
from alloyhub.platform.audit import AuditEntry
from alloyhub.platform.db import db
from alloyhub.platform.outbox import OutboxEvent
from alloyhub.tenants.agents import services
from alloyhub.tenants.agents.models import Agent, AgentTag
from tests.factories import csrf_token, sign_in

ZH = {"Accept-Language": "zh-CN"}
CATALOGUE = Path(__file__).parents[2] / "alloyhub/tenants/agents/translations/zh_CN/LC_MESSAGES"


class _MappingForm(HTMLParser):
    """The fields a browser would send from the page's mapping form (id="mapping-form"):
    text, hidden and password inputs, checked boxes, selected options, textareas."""

    def __init__(self):
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._in_form = self._in_template = False
        self._select = self._textarea = None
        self._select_value = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == "mapping-form":
            self._in_form = True
        if tag == "template":
            self._in_template = True
        if not self._in_form or self._in_template:
            return
        if tag == "input" and a.get("name") and a.get("type", "text") in ("text", "hidden", "password"):
            self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "input" and a.get("type") == "checkbox" and "checked" in a and a.get("name"):
            self.fields.append((a["name"], a.get("value") or "on"))
        elif tag == "select":
            self._select, self._select_value = a.get("name"), None
        elif tag == "option" and self._select:
            if self._select_value is None or "selected" in a:
                self._select_value = (a.get("value"), "selected" in a)
                if "selected" in a:
                    self._select_value = (a.get("value"), True)
        elif tag == "textarea":
            self._textarea = [a.get("name"), ""]

    def handle_endtag(self, tag):
        if tag == "template":
            self._in_template = False
        elif tag == "form" and self._in_form and not self._in_template:
            self._in_form = False
        elif tag == "select" and self._select:
            if self._select_value is not None:
                self.fields.append((self._select, self._select_value[0] or ""))
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields.append(tuple(self._textarea))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data


def form_fields(html: str) -> list[tuple[str, str]]:
    parser = _MappingForm()
    parser.feed(html)
    return parser.fields


def _owner(app, tenant_factory, make_client, name="Cold mill agent"):
    made = tenant_factory()
    client = make_client()
    sign_in(client, made.owner_email)
    with app.app_context(), tenancy.scoped(made.tenant_id, made.owner_id, session=db.session):
        agent, _secret, _token = services.create_agent(name=name)
        agent_id = agent.id
    return made, client, agent_id


def _agent(app, made, agent_id) -> Agent:
    with app.app_context(), tenancy.scoped(made.tenant_id, session=db.session):
        agent = db.session.get(Agent, agent_id)
        db.session.expunge(agent)
        return agent


def _count(app, made, model, *where) -> int:
    with app.app_context(), tenancy.scoped(made.tenant_id, session=db.session):
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _config_events(app, made, agent_id) -> int:
    with app.app_context(), tenancy.system_context(db.session):
        return db.session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.topic == "agent.config", OutboxEvent.tenant_id == made.tenant_id,
            OutboxEvent.payload["agent_id"].astext == str(agent_id)))


PLANT_FORM = {
    # A Modbus PLC: two tags, both writable by commands; a blank row is left out.
    "sources-0-name": "plc1", "sources-0-kind": "modbus", "sources-0-host": "10.0.0.5", "sources-0-port": "502",
    "sources-0-unit": "3", "sources-0-timeout_s": "1.5", "sources-0-word_order": "little",
    "sources-0-url": "opc.tcp://ignored:4840",  # another kind's setting: not stored
    "sources-0-tags-0-tag": "plc1.speed", "sources-0-tags-0-address": "hr:0", "sources-0-tags-0-data_type": "float32",
    "sources-0-tags-0-scale": "0.1", "sources-0-tags-0-offset": "0", "sources-0-tags-0-unit": "m/min",
    "sources-0-tags-0-period_ms": "500", "sources-0-tags-0-deadband": "0.5", "sources-0-tags-0-keepalive_s": "30",
    "sources-0-tags-0-word_order": "big", "sources-0-tags-0-writable": "on",
    "sources-0-tags-3-tag": "plc1.run", "sources-0-tags-3-address": "co:3", "sources-0-tags-3-data_type": "bool",
    "sources-0-tags-3-scale": "1", "sources-0-tags-3-offset": "0", "sources-0-tags-3-unit": "",
    "sources-0-tags-3-period_ms": "1000", "sources-0-tags-3-deadband": "0", "sources-0-tags-3-writable": "on",
    "sources-0-tags-4-tag": "", "sources-0-tags-4-address": "", "sources-0-tags-4-data_type": "float32",
    "sources-0-tags-4-scale": "1", "sources-0-tags-4-period_ms": "1000",
    # An OPC UA server (index 2: gaps are fine): one read-only tag.
    "sources-2-name": "furnace", "sources-2-kind": "opcua", "sources-2-url": "opc.tcp://10.0.0.9:4840",
    "sources-2-username": "operator", "sources-2-password": "s3cret pass", "sources-2-host": "not-for-opcua",
    "sources-2-tags-0-tag": "furnace.temp", "sources-2-tags-0-address": "ns=2;s=Furnace.Temp",
    "sources-2-tags-0-data_type": "float32", "sources-2-tags-0-unit": "℃", "sources-2-tags-0-period_ms": "2000",
    "sources-2-tags-0-word_order": "little",  # only registers have a word order: dropped
    # The simulator: a fault on from the start, two fault switches commands may flip.
    "sources-5-name": "sim", "sources-5-kind": "simulator", "sources-5-seed": "7",
    "sources-5-tags-0-tag": "line0.speed", "sources-5-tags-0-address": "0/speed", "sources-5-tags-0-unit": "m/min",
}
PLANT_MULTI = {"sources-5-faults": ["stoppage"], "sources-5-fault_switches": ["bearing_drift", "stoppage"]}
PLANT_CONFIG = [
    {"name": "plc1", "kind": "modbus", "host": "10.0.0.5", "port": 502, "unit": 3, "timeout_s": 1.5,
     "word_order": "little", "tags": [
         {"tag": "plc1.speed", "address": "hr:0", "data_type": "float32", "scale": 0.1, "offset": 0.0,
          "unit": "m/min", "period_ms": 500, "deadband": 0.5, "keepalive_s": 30.0, "word_order": "big"},
         {"tag": "plc1.run", "address": "co:3", "data_type": "bool", "scale": 1.0, "offset": 0.0, "unit": "",
          "period_ms": 1000, "deadband": 0.0}]},
    {"name": "furnace", "kind": "opcua", "url": "opc.tcp://10.0.0.9:4840", "username": "operator",
     "password": "s3cret pass", "tags": [
         {"tag": "furnace.temp", "address": "ns=2;s=Furnace.Temp", "data_type": "float32", "scale": 1.0,
          "offset": 0.0, "unit": "℃", "period_ms": 2000, "deadband": 0.0}]},
    {"name": "sim", "kind": "simulator", "seed": 7, "faults": ["stoppage"], "tags": [
        {"tag": "line0.speed", "address": "0/speed", "data_type": "float32", "scale": 1.0, "offset": 0.0,
         "unit": "m/min", "period_ms": 1000, "deadband": 0.0}]},
]


def _post(client, agent_id, fields, token, headers=None, **extra):
    data = {"csrf_token": token, **fields, **extra}
    return client.post(f"/agents/{agent_id}/config", data=data, headers=headers or {},
                       content_type="multipart/form-data")


def test_structured_form_saves_sources_tags_and_writable_flags(app, tenant_factory, make_client):
    made, client, agent_id = _owner(app, tenant_factory, make_client)
    token = csrf_token(client, f"/agents/{agent_id}")
    saved = _post(client, agent_id, PLANT_FORM, token, version="0", **PLANT_MULTI)
    assert saved.status_code == 302, saved.get_data(as_text=True)[-3000:]
    assert saved.headers["Location"].endswith(f"/agents/{agent_id}#mapping")

    agent = _agent(app, made, agent_id)
    assert agent.config == {"sources": PLANT_CONFIG}
    assert agent.allow_write == ["plc1.run", "plc1.speed", "sim.fault.bearing_drift", "sim.fault.stoppage"]
    assert agent.config_version == 1
    assert _config_events(app, made, agent_id) == 1
    with app.app_context(), tenancy.scoped(made.tenant_id, session=db.session):
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "agent.config_changed"))
        assert entry.target_id == str(agent_id) and entry.details["version"] == 1
        catalogue = dict(db.session.execute(select(AgentTag.tag, AgentTag.status)
                                            .where(AgentTag.agent_id == agent_id)).all())
    assert catalogue == {"plc1.speed": "active", "plc1.run": "active", "furnace.temp": "active",
                         "line0.speed": "active"}

    # The page shows what was saved, in the same form: sending it back unchanged saves the same config.
    html = client.get(f"/agents/{agent_id}").get_data(as_text=True)
    assert 'value="plc1.speed"' in html and "Configuration version 1 is saved" in html
    fields = form_fields(html)
    assert ("sources-0-tags-0-writable", "on") in fields and ("sources-0-tags-1-writable", "on") in fields
    assert ("sources-2-fault_switches", "stoppage") in fields and ("sources-2-faults", "stoppage") in fields
    assert not any(name == "sources-1-tags-0-writable" for name, _ in fields)
    again = client.post(f"/agents/{agent_id}/config", data=_multi(fields), content_type="multipart/form-data")
    assert again.status_code == 302
    agent = _agent(app, made, agent_id)
    assert agent.config == {"sources": PLANT_CONFIG} and agent.config_version == 2
    assert agent.allow_write == ["plc1.run", "plc1.speed", "sim.fault.bearing_drift", "sim.fault.stoppage"]

    # Unticking a box takes the tag off the allow-list; removing the source's rows removes the tags.
    fields = [(k, "2" if k == "version" else v) for k, v in fields if k not in ("sources-0-tags-0-writable",)
              and not k.startswith("sources-1-tags-")]
    assert client.post(f"/agents/{agent_id}/config", data=_multi(fields),
                       content_type="multipart/form-data").status_code == 302
    agent = _agent(app, made, agent_id)
    assert agent.allow_write == ["plc1.run", "sim.fault.bearing_drift", "sim.fault.stoppage"]
    assert agent.config["sources"][1]["tags"] == [] and agent.config_version == 3


def test_bad_rows_come_back_beside_their_fields_and_nothing_changes(app, tenant_factory, make_client):
    made, client, agent_id = _owner(app, tenant_factory, make_client)
    token = csrf_token(client, f"/agents/{agent_id}")
    assert _post(client, agent_id, PLANT_FORM, token, version="0", **PLANT_MULTI).status_code == 302
    before = _agent(app, made, agent_id)
    events = _config_events(app, made, agent_id)

    bad = dict(PLANT_FORM, **{"sources-0-tags-3-data_type": "double", "sources-0-tags-0-period_ms": "-5",
                              "sources-0-port": "five-oh-two", "sources-2-tags-0-address": "Furnace.Temp"})
    refused = _post(client, agent_id, bad, token, version="1", **PLANT_MULTI)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)

    def beside(path):
        """The messages shown in the table cell or field of `path`."""
        return [unescape(m) for m in re.findall(
            rf'<small class="error" data-testid="error" data-path="{re.escape(path)}">([^<]*)</small>', html)]

    # The rows are numbered as the page shows them (the saved order), whatever indices were sent.
    assert beside("sources.0.tags.1.data_type") == ["Use int16, uint16, int32, uint32, float32 or bool."]
    assert beside("sources.0.tags.0.period_ms") == ["Use a period from 10 ms to 86400000 ms (one day)."]
    assert beside("sources.0.port") == ["Not a valid integer."]
    assert beside("sources.1.tags.0.address") == ["Use an OPC UA node id such as ns=2;s=Line1.Speed."]
    assert 'data-testid="form-error"' in html
    # What was typed is still there, the bad values included.
    fields = form_fields(html)
    assert ("sources-0-tags-0-period_ms", "-5") in fields and ("sources-0-tags-1-data_type", "double") in fields
    assert ("sources-0-port", "five-oh-two") in fields and ("sources-1-password", "s3cret pass") in fields
    assert ("sources-0-tags-0-writable", "on") in fields and ("sources-2-faults", "stoppage") in fields
    # Nothing changed: same config, same version, no event.
    after = _agent(app, made, agent_id)
    assert (after.config, after.allow_write, after.config_version) == (before.config, before.allow_write, 1)
    assert _config_events(app, made, agent_id) == events

    # In Chinese, the same messages in Chinese beside the same fields.
    zh = _post(client, agent_id, bad, token, headers=ZH, version="1", **PLANT_MULTI).get_data(as_text=True)
    assert 'data-path="sources.0.tags.0.period_ms">周期须在 10 毫秒到 86400000 毫秒（一天）之间。<' in zh
    assert 'data-path="sources.0.tags.1.data_type">请使用 int16、uint16、int32、uint32、float32 或 bool。<' in zh
    assert "配置未保存" in zh

    # Duplicates are marked on the second row and the second source.
    dup = dict(PLANT_FORM, **{"sources-0-tags-3-tag": "plc1.speed"})
    html = _post(client, agent_id, dup, token, version="1", **PLANT_MULTI).get_data(as_text=True)
    assert 'data-path="sources.0.tags.1.tag">Two tags have the same name.<' in html
    dup = dict(PLANT_FORM, **{"sources-2-name": "plc1", "sources-2-tags-0-tag": "plc1.speed"})
    html = _post(client, agent_id, dup, token, version="1", **PLANT_MULTI).get_data(as_text=True)
    assert 'data-path="sources.1.name">Two sources have the same name.<' in html
    assert 'data-path="sources.1.tags.0.tag">Another source has a tag of this name.<' in html
    assert _agent(app, made, agent_id).config_version == 1


def test_a_form_from_an_older_version_is_not_saved_over_a_newer_one(app, tenant_factory, make_client):
    made, client, agent_id = _owner(app, tenant_factory, make_client)
    token = csrf_token(client, f"/agents/{agent_id}")
    assert _post(client, agent_id, PLANT_FORM, token, version="0", **PLANT_MULTI).status_code == 302
    stale = dict(PLANT_FORM, **{"sources-0-host": "10.0.0.99"})
    conflict = _post(client, agent_id, stale, token, version="0", **PLANT_MULTI)
    assert conflict.status_code == 409
    fields = form_fields(conflict.get_data(as_text=True))
    assert ("sources-0-host", "10.0.0.99") in fields and ("version", "1") in fields
    assert _agent(app, made, agent_id).config["sources"][0]["host"] == "10.0.0.5"
    # Sent again from the form that came back (now based on version 1): saved.
    assert client.post(f"/agents/{agent_id}/config", data=_multi(fields),
                       content_type="multipart/form-data").status_code == 302
    agent = _agent(app, made, agent_id)
    assert agent.config["sources"][0]["host"] == "10.0.0.99" and agent.config_version == 2


def test_csv_export_import_round_trip(app, tenant_factory, make_client):
    made, client, agent_id = _owner(app, tenant_factory, make_client)
    token = csrf_token(client, f"/agents/{agent_id}")
    assert _post(client, agent_id, PLANT_FORM, token, version="0", **PLANT_MULTI).status_code == 302

    exported = client.get(f"/agents/{agent_id}/tags.csv?source=plc1")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert exported.headers["Content-Disposition"] == 'attachment; filename="plc1-tags.csv"'
    assert exported.data.startswith("\ufeff".encode())  # spreadsheets read it as UTF-8
    rows = list(csv.DictReader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert list(rows[0]) == ["tag", "address", "data_type", "scale", "offset", "unit", "period_ms", "deadband",
                             "keepalive_s", "word_order", "writable"]
    assert [(r["tag"], r["address"], r["scale"], r["period_ms"], r["keepalive_s"], r["word_order"], r["writable"])
            for r in rows] == [("plc1.speed", "hr:0", "0.1", "500", "30", "big", "yes"),
                               ("plc1.run", "co:3", "1", "1000", "", "", "yes")]
    assert client.get(f"/agents/{agent_id}/tags.csv?source=nowhere").status_code == 404
    # The whole agent in one sheet: a first column names each row's source.
    everything = client.get(f"/agents/{agent_id}/tags.csv")
    assert everything.status_code == 200
    sheet = list(csv.DictReader(io.StringIO(everything.data.decode("utf-8-sig"))))
    assert [(r["source"], r["tag"]) for r in sheet] == [("plc1", "plc1.speed"), ("plc1", "plc1.run"),
                                                        ("furnace", "furnace.temp"), ("sim", "line0.speed")]

    # Into a new Modbus source: the page comes back with the rows filled in; nothing is saved yet.
    html = client.get(f"/agents/{agent_id}").get_data(as_text=True)
    fields = form_fields(html) + [("sources-9-name", "plc2"), ("sources-9-kind", "modbus"),
                                  ("sources-9-host", "10.0.0.6"), ("import_csv", "9")]
    renamed = exported.data.decode("utf-8-sig").replace("plc1.", "plc2.")
    data = _multi(fields) | {"sources-9-csv": (io.BytesIO(renamed.encode("utf-8-sig")), "plc2.csv")}
    imported = client.post(f"/agents/{agent_id}/config", data=data, content_type="multipart/form-data")
    assert imported.status_code == 200
    html = imported.get_data(as_text=True)
    assert "2 tags read into the source plc2" in html
    assert _agent(app, made, agent_id).config_version == 1
    # Saved from the page as it came back: plc2 has plc1's table, writable boxes included.
    saved = client.post(f"/agents/{agent_id}/config", data=_multi(form_fields(html)),
                        content_type="multipart/form-data")
    assert saved.status_code == 302
    agent = _agent(app, made, agent_id)
    plc1, plc2 = agent.config["sources"][0], agent.config["sources"][3]
    assert plc2["name"] == "plc2" and plc2["host"] == "10.0.0.6"
    assert plc2["tags"] == [dict(t, tag=t["tag"].replace("plc1.", "plc2.")) for t in plc1["tags"]]
    assert {"plc2.speed", "plc2.run"} <= set(agent.allow_write) and agent.config_version == 2

    # A spreadsheet's own export: semicolons, GB 18030, headers as people write them.
    sheet = "Tag;Address;Data type;Unit;Period (ms);Writable by commands\r\nplc2.temp;ir:4;int16;℃;250;是\r\n"
    data = _multi(form_fields(client.get(f"/agents/{agent_id}").get_data(as_text=True))) | {
        "import_csv": "3", "sources-3-csv": (io.BytesIO(sheet.encode("gb18030")), "温度.csv")}
    html = client.post(f"/agents/{agent_id}/config", data=data,
                       content_type="multipart/form-data").get_data(as_text=True)
    fields = form_fields(html)
    assert ("sources-3-tags-0-tag", "plc2.temp") in fields and ("sources-3-tags-0-unit", "℃") in fields
    assert ("sources-3-tags-0-period_ms", "250") in fields and ("sources-3-tags-0-writable", "on") in fields
    assert ("sources-3-tags-0-data_type", "int16") in fields and ("sources-3-tags-1-tag", "plc2.run") not in fields

    # Importing the whole agent's sheet into one source takes that source's rows only.
    data = _multi(form_fields(html)) | {"import_csv": "1",
                                        "sources-1-csv": (io.BytesIO(everything.data), "all.csv")}
    fields = form_fields(client.post(f"/agents/{agent_id}/config", data=data,
                                     content_type="multipart/form-data").get_data(as_text=True))
    assert [v for k, v in fields if re.fullmatch(r"sources-1-tags-\d+-tag", k)] == ["furnace.temp"]
    data = _multi(form_fields(html)) | {"import_csv": "3",
                                        "sources-3-csv": (io.BytesIO(everything.data), "all.csv")}
    assert 'data-path="sources.3.csv">The CSV file has no rows for the source plc2.' in client.post(
        f"/agents/{agent_id}/config", data=data, content_type="multipart/form-data").get_data(as_text=True)

    # A file the table cannot read: the message is beside that source and nothing changes.
    data = _multi(form_fields(html)) | {"import_csv": "3",
                                        "sources-3-csv": (io.BytesIO(b"tag,colour\nx,red\n"), "bad.csv")}
    refused = client.post(f"/agents/{agent_id}/config", data=data, content_type="multipart/form-data")
    assert refused.status_code == 422
    assert 'data-path="sources.3.csv">Unknown columns in the CSV file: colour.' in refused.get_data(as_text=True)
    assert _agent(app, made, agent_id).config_version == 2


def _multi(fields):
    """Form pairs as a dict for the test client, repeated names as lists."""
    data: dict = {}
    for name, value in fields:
        if name in data:
            data[name] = (data[name] if isinstance(data[name], list) else [data[name]]) + [value]
        else:
            data[name] = value
    return data


def test_json_box_exports_and_imports_the_same_structure(app, tenant_factory, make_client):
    made, client, agent_id = _owner(app, tenant_factory, make_client)
    token = csrf_token(client, f"/agents/{agent_id}")
    assert _post(client, agent_id, PLANT_FORM, token, version="0", **PLANT_MULTI).status_code == 302
    exported = client.get(f"/agents/{agent_id}/config.json")
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    body = json.loads(exported.data)
    assert body == {"sources": PLANT_CONFIG, "allow_write": _agent(app, made, agent_id).allow_write}

    body["sources"][0]["tags"].append({"tag": "plc1.tension", "address": "40011", "data_type": "int16"})
    saved = client.post(f"/agents/{agent_id}/config", data={
        "csrf_token": token, "mode": "json", "version": "1",
        "config_file": (io.BytesIO(json.dumps(body).encode()), "config.json")}, content_type="multipart/form-data")
    assert saved.status_code == 302
    agent = _agent(app, made, agent_id)
    assert agent.config_version == 2 and agent.config["sources"][0]["tags"][2]["tag"] == "plc1.tension"

    broken = client.post(f"/agents/{agent_id}/config", data={
        "csrf_token": token, "mode": "json", "version": "2", "config_json": '{"sources": [}'})
    assert broken.status_code == 422
    html = broken.get_data(as_text=True)
    assert "This is not valid JSON (line 1, column 14)." in html and "{&#34;sources&#34;: [}" in html
    body["sources"][0]["tags"][2]["period_ms"] = 1
    refused = client.post(f"/agents/{agent_id}/config", data={
        "csrf_token": token, "mode": "json", "version": "2", "config_json": json.dumps(body)})
    assert refused.status_code == 422
    assert "<code>sources.0.tags.2.period_ms</code>: Use a period" in refused.get_data(as_text=True)
    assert _agent(app, made, agent_id).config_version == 2


def test_unknown_tags_stay_adoptable_from_the_page(app, tenant_factory, make_client):
    made, client, agent_id = _owner(app, tenant_factory, make_client)
    with app.app_context(), tenancy.scoped(made.tenant_id, session=db.session):
        services.note_unknown_tags(agent_id, {"line9.mystery": 12})
        db.session.commit()
        tag_id = db.session.scalar(select(AgentTag.id).where(AgentTag.tag == "line9.mystery"))
    html = client.get(f"/agents/{agent_id}").get_data(as_text=True)
    assert 'data-testid="unknown-tags-banner"' in html and 'href="#tags"' in html
    assert f'action="/agents/tags/{tag_id}/adopt"' in html
    token = csrf_token(client, f"/agents/{agent_id}")
    assert client.post(f"/agents/tags/{tag_id}/adopt", data={"csrf_token": token}).status_code == 302
    assert _count(app, made, AgentTag, AgentTag.id == tag_id, AgentTag.status == "active") == 1
    assert 'data-testid="unknown-tags-banner"' not in client.get(f"/agents/{agent_id}").get_data(as_text=True)


def test_a_viewer_sees_no_editor_and_cannot_save(app, tenant_factory, make_client):
    made, _client, agent_id = _owner(app, tenant_factory, make_client)
    viewer = make_client()
    sign_in(viewer, tenant_factory.add_member(made, "viewer"))
    assert viewer.get("/agents").status_code in (200, 403)
    page = viewer.get(f"/agents/{agent_id}")
    if page.status_code == 200:
        assert 'id="mapping-form"' not in page.get_data(as_text=True)
    token = csrf_token(viewer, "/account")
    assert _post(viewer, agent_id, PLANT_FORM, token, version="0").status_code == 403
    assert _agent(app, made, agent_id).config_version == 0


def test_page_in_chinese(app, tenant_factory, make_client):
    _made, client, agent_id = _owner(app, tenant_factory, make_client)
    token = csrf_token(client, f"/agents/{agent_id}")
    assert _post(client, agent_id, PLANT_FORM, token, version="0", **PLANT_MULTI).status_code == 302
    html = client.get(f"/agents/{agent_id}", headers=ZH).get_data(as_text=True)
    for words in ("点位映射", "添加数据源", "允许指令写入", "周期（毫秒）", "高级：以 JSON 编辑", "从 CSV 导入点位",
                  "指令可切换的故障", "轴承温度漂移", "端点地址", "保存并下发给采集代理", "同数据源"):
        assert words in html, words
    for english in ("Add a source", "Writable by commands", "Period (ms)", "Advanced: edit as JSON",
                    "Import tags from CSV", "Commands may switch these faults", "Endpoint URL"):
        assert english not in html, english


def test_the_rooms_catalogue_is_complete():
    catalogue = read_po((CATALOGUE / "messages.po").open("rb"), locale="zh_CN")
    assert len(catalogue) > 50
    assert [m.id for m in catalogue if m.id and not m.string] == [] and [m.id for m in catalogue if m.fuzzy] == []
    for m in catalogue:
        if m.id:
            assert sorted(re.findall(r"%\(\w+\)s", m.id)) == sorted(re.findall(r"%\(\w+\)s", m.string)), m.id
    compiled = read_mo((CATALOGUE / "messages.mo").open("rb"))
    assert {m.id: m.string for m in compiled if m.id} == {m.id: m.string for m in catalogue if m.id}
