"""The inventory room's own Chinese catalogue: complete, placeholders kept,
compiled as written."""
from __future__ import annotations

import re
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

CATALOGUE = Path(__file__).parents[3] / "alloyhub/tenants/inventory/translations/zh_CN/LC_MESSAGES"


def test_every_message_is_translated_and_compiled():
    catalogue = read_po((CATALOGUE / "messages.po").open("rb"), locale="zh_CN")
    messages = [m for m in catalogue if m.id]
    assert len(messages) > 300
    assert [m.id for m in messages if not m.string] == []
    assert [m.id for m in messages if m.fuzzy] == []
    for m in messages:
        assert sorted(re.findall(r"%\(\w+\)s", m.id)) == sorted(re.findall(r"%\(\w+\)s", m.string)), m.id
    compiled = read_mo((CATALOGUE / "messages.mo").open("rb"))
    assert {m.id: m.string for m in compiled if m.id} == {m.id: m.string for m in messages}


def test_service_messages_are_shown_in_chinese(plant, make_client):
    from tests.factories import csrf_token, sign_in

    client = make_client()
    sign_in(client, plant.made.owner_email)
    coil = plant.receive("ZH-NEG", weight_kg=100)
    token = csrf_token(client, "/inventory")
    response = client.post(f"/inventory/coils/{coil}/adjust", data={"delta_kg": "-200", "reason": "掉落",
                                                                    "csrf_token": token},
                           headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 422
    assert "卷 ZH-NEG 重 100.0 千克，不能减少 200.0 千克。" in response.get_data(as_text=True)
    response = client.post(f"/inventory/coils/{coil}/issue", data={"csrf_token": token},
                           headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 303
    again = client.post(f"/inventory/coils/{coil}/issue", data={"csrf_token": token},
                        headers={"Accept-Language": "zh-CN"})
    assert again.status_code == 409
    assert "卷 ZH-NEG 已领料到生产，不能领料到生产。" in again.get_data(as_text=True)
