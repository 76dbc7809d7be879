"""Chinese and English: the browser's language decides until the person picks
one with the toggle; the catalogue translates every string it holds."""
from __future__ import annotations

import re
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.factories import csrf_token, sign_in

CATALOGUE = Path(__file__).parents[2] / "alloyhub/platform/i18n/translations/zh_CN/LC_MESSAGES"


def test_browser_language_chooses_chinese(client):
    html = client.get("/signin", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "登录" in html and "忘记密码？" in html
    english = client.get("/signin", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert "Forgot your password?" in english and "忘记密码" not in english


def test_toggle_switches_language_and_sticks(client, tenant_factory):
    made = tenant_factory()
    sign_in(client, made.owner_email)
    chinese = {"Accept-Language": "zh-CN"}
    assert "成员" in client.get("/members", headers=chinese).get_data(as_text=True)
    token = csrf_token(client, "/members")
    response = client.post("/lang/en", data={"csrf_token": token, "next": "/members"}, headers=chinese)
    assert response.status_code == 302 and response.headers["Location"].endswith("/members")
    html = client.get("/members", headers=chinese).get_data(as_text=True)
    assert "Members" in html and "成员" not in html
    assert 'data-testid="lang-toggle" lang="zh-CN">中文<' in html
    client.post("/lang/zh_CN", data={"csrf_token": token, "next": "/members"})
    assert "<h1>成员</h1>" in client.get("/members").get_data(as_text=True)


def test_service_messages_are_translated_on_pages(client, tenant_factory):
    made = tenant_factory()
    token = csrf_token(client, "/signin")
    response = client.post("/signin", data={"email": made.owner_email, "password": "Wrong-password-1",
                                            "csrf_token": token}, headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 401
    assert "电子邮箱或密码错误" in response.get_data(as_text=True)


def test_every_message_has_a_chinese_translation():
    catalogue = read_po((CATALOGUE / "messages.po").open("rb"), locale="zh_CN")
    untranslated = [m.id for m in catalogue if m.id and not (m.string if isinstance(m.string, str) else all(m.string))]
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert len(catalogue) > 200
    assert untranslated == [] and fuzzy == []
    # The compiled catalogue the app loads says the same as the source.
    compiled = read_mo((CATALOGUE / "messages.mo").open("rb"))
    assert {m.id: m.string for m in compiled if m.id} == {m.id: m.string for m in catalogue if m.id}


def test_placeholders_survive_translation():
    catalogue = read_po((CATALOGUE / "messages.po").open("rb"), locale="zh_CN")
    for m in catalogue:
        if m.id and isinstance(m.id, str):
            assert sorted(re.findall(r"%\(\w+\)s", m.id)) == sorted(re.findall(r"%\(\w+\)s", m.string)), m.id


def test_every_page_renders_in_chinese(client, tenant_factory):
    made = tenant_factory()
    sign_in(client, made.owner_email)
    token = csrf_token(client, "/invitations")
    invitations = client.get("/invitations").get_data(as_text=True)
    viewer_role = re.search(r'<option value="([0-9a-f-]{36})"[^>]*>Viewer<', invitations)
    client.post("/invitations", data={"email": "zh-invitee@example.com", "role_id": viewer_role.group(1),
                                      "csrf_token": token})
    client.post("/lang/zh_CN", data={"csrf_token": token})
    expected = {"/": "概览", "/members": "成员", "/invitations": "待处理的邀请", "/roles": "新建角色",
                "/sites": "添加厂区", "/settings": "企业设置", "/audit": "审计日志", "/account": "双重验证登录",
                "/tenants": "选择企业", "/forgot": "忘记密码？"}
    for path, words in expected.items():
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert words in html, path
        assert "管理" in html and "退出登录" in html, path  # navigation and account menu too
