"""In Chromium, in Chinese: sign in, turn on two-factor sign-in from the
account page, and sign in again with a code."""
from __future__ import annotations

import pyotp
from playwright.sync_api import expect

from tests.factories import PASSWORD


def test_two_factor_set_up_in_chinese(live_server, new_context, tenant_factory):
    made = tenant_factory()
    page = new_context(locale="zh-CN").new_page()
    page.goto(f"{live_server}/signin")
    expect(page.locator("h1")).to_have_text("登录")
    page.get_by_test_id("email").fill(made.owner_email)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("current-tenant")).to_have_text(made.name)

    page.get_by_test_id("account-menu").locator("summary").click()
    page.get_by_role("link", name="账户与安全").click()
    page.get_by_test_id("totp-begin").click()
    expect(page.get_by_test_id("totp-qr").locator("svg")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    page.get_by_test_id("code").fill("000000")
    page.get_by_test_id("totp-confirm").click()
    expect(page.get_by_test_id("error-code")).to_have_text("验证码错误或已过期。")
    page.get_by_test_id("code").fill(pyotp.TOTP(secret).now())
    page.get_by_test_id("totp-confirm").click()
    expect(page.get_by_test_id("flash")).to_contain_text("双重验证登录已开启")
    page.screenshot(path="/tmp/account-zh.png", full_page=True)

    page.get_by_test_id("account-menu").locator("summary").click()
    page.get_by_test_id("sign-out").click()
    page.goto(f"{live_server}/signin")
    page.get_by_test_id("email").fill(made.owner_email)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("totp").fill(pyotp.TOTP(secret).now())
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("current-tenant")).to_have_text(made.name)
