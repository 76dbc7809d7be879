"""Stripe for the tests: localstripe (a stateful fake Stripe server from PyPI)
for what it implements (customers, products, plans, subscriptions, invoices,
payment methods), and in front of it a small stand-in of our own for what it
lacks (localstripe 1.15 answers 404 to /v1/prices): prices, Checkout
Sessions, customer portal sessions, billing meters and meter events.

The stand-in answers with the response shapes of Stripe's API reference,
records what it was sent, and forwards every other request to localstripe,
so the product talks to one `STRIPE_API_BASE` as it would to Stripe.

Tests only. Fixtures: `localstripe_url`, `stripe_standin`, `stripe_on`.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe

WEBHOOK_SECRET = "whsec_test_" + "a1b2c3d4e5f6"
API_KEY = "sk_test_alloyhub"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nest(flat: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (`a[b][0][c]=v`) back into nested data."""
    root: dict = {}
    for key, value in flat:
        parts = key.replace("]", "").split("[")
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = parts[i + 1] if not last else None
            if last:
                if part == "" and isinstance(node, list):
                    node.append(value)
                else:
                    node[part] = value
            else:
                default = [] if nxt == "" else {}
                node = node.setdefault(part, default)
    return _lists(root)


def _lists(node):
    """{"0": x, "1": y} -> [x, y]"""
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    elif isinstance(node, list):
        return [_lists(v) for v in node]
    return node


class StandIn:
    """The state of the stand-in: what it made and every request it was sent."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.prices: dict[str, dict] = {}
        self.meters: dict[str, dict] = {}
        self.meter_events: dict[str, dict] = {}   # identifier -> event (Stripe counts an identifier once)
        self.checkout_sessions: dict[str, dict] = {}
        self.portal_sessions: dict[str, dict] = {}
        # Connect (spares payments): connected accounts, onboarding links, refunds with their Connect options.
        self.accounts: dict[str, dict] = {}
        self.account_links: list[dict] = []
        self.refunds: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.base = ""
        self.lock = threading.Lock()

    def sent(self, method: str, path_prefix: str) -> list[dict]:
        return [body for m, p, body in self.requests if m == method and p.startswith(path_prefix)]


def _handler(state: StandIn):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _json(self, status: int, body: dict, headers: dict | None = None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str):
            self._json(status, {"error": {"type": "invalid_request_error", "message": message}})

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

        def do_DELETE(self):
            self._route("DELETE")

        def _route(self, method: str):
            split = urlsplit(self.path)
            path = split.path
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else b""
            params = _nest(parse_qsl(raw.decode() if method == "POST" else split.query, keep_blank_values=True))
            with state.lock:
                state.requests.append((method, path, params))
            if path.startswith("/connect/onboarding/"):  # Stripe's hosted onboarding: completes it and returns
                account = state.accounts.get(path.rsplit("/", 1)[1])
                if account is None:
                    return self._error(404, "No such onboarding page")
                account.update(details_submitted=True, charges_enabled=True, payouts_enabled=True)
                link = next(x for x in reversed(state.account_links) if x["account"] == account["id"])
                self.send_response(303)
                self.send_header("Location", link["return_url"])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if path.startswith("/checkout/"):  # the "hosted" Checkout page: pays at once and returns
                session = state.checkout_sessions.get(path.rsplit("/", 1)[1])
                if session is None:
                    return self._error(404, "No such checkout page")
                if session["mode"] == "payment" and session["payment_status"] != "paid":
                    _pay_in_localstripe(state, session)
                session["status"] = "complete"
                self.send_response(303)
                self.send_header("Location", session["success_url"])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            handler = {
                ("GET", "/v1/prices"): self._list_prices, ("POST", "/v1/prices"): self._create_price,
                ("GET", "/v1/billing/meters"): self._list_meters, ("POST", "/v1/billing/meters"): self._create_meter,
                ("POST", "/v1/billing/meter_events"): self._meter_event,
                ("POST", "/v1/checkout/sessions"): self._create_checkout,
                ("POST", "/v1/billing_portal/sessions"): self._create_portal,
                ("POST", "/v1/accounts"): self._create_account,
                ("POST", "/v1/account_links"): self._create_account_link,
                ("POST", "/v1/refunds"): self._create_refund,
            }.get((method, path))
            if handler is not None:
                return handler(params)
            if path.startswith("/v1/checkout/sessions/") and method == "GET":
                session = state.checkout_sessions.get(path.rsplit("/", 1)[1])
                return self._json(200, session) if session else self._error(404, "No such checkout.session")
            if path.startswith("/v1/accounts/"):
                account = state.accounts.get(path.split("/")[3])
                if account is None:
                    return self._error(404, "No such account")
                if method == "POST":  # the tests play Stripe's verification
                    for key in ("charges_enabled", "payouts_enabled", "details_submitted"):
                        if key in params:
                            account[key] = params[key] == "true"
                return self._json(200, account)
            self._forward(method, raw)

        # ---- Stripe API shapes (https://docs.stripe.com/api)
        def _list_prices(self, params):
            keys = params.get("lookup_keys") or []
            data = [p for p in state.prices.values() if not keys or p["lookup_key"] in keys]
            self._json(200, {"object": "list", "url": "/v1/prices", "has_more": False, "data": data})

        def _create_price(self, params):
            if any(p["lookup_key"] == params.get("lookup_key") for p in state.prices.values()):
                return self._error(400, "A price with this lookup_key exists")
            price = {"id": "price_" + secrets.token_hex(8), "object": "price", "active": True,
                     "currency": params.get("currency"), "lookup_key": params.get("lookup_key"),
                     "metadata": params.get("metadata") or {}, "product": params.get("product"),
                     "unit_amount": int(params.get("unit_amount", 0)), "type": "recurring",
                     "recurring": {"interval": params.get("recurring", {}).get("interval"),
                                   "usage_type": params.get("recurring", {}).get("usage_type", "licensed"),
                                   "meter": params.get("recurring", {}).get("meter")}}
            state.prices[price["id"]] = price
            self._json(200, price)

        def _list_meters(self, params):
            self._json(200, {"object": "list", "url": "/v1/billing/meters", "has_more": False,
                             "data": list(state.meters.values())})

        def _create_meter(self, params):
            meter = {"id": "mtr_" + secrets.token_hex(8), "object": "billing.meter",
                     "event_name": params["event_name"], "display_name": params.get("display_name"),
                     "status": "active", "default_aggregation": params.get("default_aggregation")}
            state.meters[meter["id"]] = meter
            self._json(200, meter)

        def _meter_event(self, params):
            ident = params.get("identifier") or secrets.token_hex(8)
            if ident in state.meter_events:
                return self._error(400, "An event with this identifier was already processed")
            event = {"object": "billing.meter_event", "event_name": params["event_name"], "identifier": ident,
                     "payload": params.get("payload") or {}, "timestamp": int(params.get("timestamp", 0)),
                     "created": int(time.time()), "livemode": False}
            state.meter_events[ident] = event
            self._json(200, event)

        def _create_account(self, params):
            if params.get("type") != "express":
                return self._error(400, "Only Express accounts are made here")
            account = {"id": "acct_" + secrets.token_hex(8), "object": "account", "type": "express",
                       "metadata": params.get("metadata") or {}, "capabilities_requested": params.get("capabilities"),
                       "charges_enabled": False, "payouts_enabled": False, "details_submitted": False}
            state.accounts[account["id"]] = account
            self._json(200, account)

        def _create_account_link(self, params):
            if params.get("account") not in state.accounts:
                return self._error(400, "No such account")
            if params.get("type") != "account_onboarding" or not params.get("return_url") \
                    or not params.get("refresh_url"):
                return self._error(400, "type, return_url and refresh_url are required")
            link = {"object": "account_link", "account": params["account"], "return_url": params["return_url"],
                    "refresh_url": params["refresh_url"], "created": int(time.time()),
                    "expires_at": int(time.time()) + 300,
                    "url": f"{state.base}/connect/onboarding/{params['account']}"}
            state.account_links.append(link)
            self._json(200, link)

        def _create_refund(self, params):
            """Connect's options recorded here; the refund itself is localstripe's (of its PaymentIntent)."""
            connect = {k: params.pop(k) for k in ("reverse_transfer", "refund_application_fee") if k in params}
            status, body = _localstripe(state, "POST", "/v1/refunds", params,
                                        self.headers.get("Idempotency-Key"))
            if status == 200:
                state.refunds[body["id"]] = {**body, **connect}
            self._json(status, body)

        def _create_checkout(self, params):
            sid = "cs_test_" + secrets.token_hex(12)
            session = {"id": sid, "object": "checkout.session", "mode": params.get("mode"),
                       "customer": params.get("customer"), "client_reference_id": params.get("client_reference_id"),
                       "metadata": params.get("metadata") or {}, "line_items_sent": params.get("line_items"),
                       "subscription_data_sent": params.get("subscription_data"),
                       "success_url": params.get("success_url"), "cancel_url": params.get("cancel_url"),
                       "status": "open", "payment_status": "unpaid", "subscription": None,
                       "url": f"{state.base}/checkout/{sid}",
                       "payment_intent_data_sent": params.get("payment_intent_data"), "payment_intent": None}
            if params.get("mode") == "payment":
                destination = ((params.get("payment_intent_data") or {}).get("transfer_data") or {}).get("destination")
                if destination is not None and destination not in state.accounts:
                    return self._error(400, f"No such destination: {destination}")
                session["amount_total"] = sum(int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1))
                                              for i in params.get("line_items") or [])
                session["currency"] = (params.get("line_items") or [{}])[0].get("price_data", {}).get("currency")
            state.checkout_sessions[sid] = session
            self._json(200, session)

        def _create_portal(self, params):
            sid = "bps_" + secrets.token_hex(12)
            session = {"id": sid, "object": "billing_portal.session", "customer": params.get("customer"),
                       "return_url": params.get("return_url"), "url": f"{state.base}/portal/{sid}"}
            state.portal_sessions[sid] = session
            self._json(200, session)

        def _forward(self, method: str, raw: bytes):
            request = urllib.request.Request(state.upstream + self.path, data=raw if method == "POST" else None,
                                             method=method)
            for name in ("Authorization", "Content-Type", "Stripe-Version", "Idempotency-Key"):
                if self.headers.get(name):
                    request.add_header(name, self.headers[name])
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, body = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _form(params: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Nested data in Stripe's form encoding (the inverse of `_nest`)."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            out += _form(value, name)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                out += _form(item, f"{name}[{i}]") if isinstance(item, dict) else [(f"{name}[{i}]", str(item))]
        else:
            out.append((name, "true" if value is True else "false" if value is False else str(value)))
    return out


def _localstripe(state: StandIn, method: str, path: str, params: dict, idempotency_key: str | None = None):
    from urllib.parse import urlencode

    data = urlencode(_form(params)).encode() if method == "POST" else None
    request = urllib.request.Request(state.upstream + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {API_KEY}")
    if idempotency_key:
        request.add_header("Idempotency-Key", idempotency_key)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _pay_in_localstripe(state: StandIn, session: dict) -> None:
    """The buyer pays on the hosted page: a card PaymentIntent for the total
    in localstripe (which charges it), its id on the session."""
    status, pm = _localstripe(state, "POST", "/v1/payment_methods", {
        "type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
    assert status == 200, pm
    status, intent = _localstripe(state, "POST", "/v1/payment_intents", {
        "amount": session["amount_total"], "currency": session["currency"], "payment_method": pm["id"],
        "confirm": True, "metadata": session.get("metadata") or {}})
    assert status == 200 and intent["status"] == "succeeded", intent
    session.update(payment_intent=intent["id"], payment_status="paid")


def _localstripe_command() -> list[str]:
    exe = Path(sys.executable).with_name("localstripe")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("localstripe")
    if found is None:
        pytest.fail("localstripe is not installed: `make test` installs it (pip install -e '.[test]')")
    return [found]


@pytest.fixture(scope="session")
def localstripe_url():
    port = _free_port()
    proc = subprocess.Popen([*_localstripe_command(), "--port", str(port), "--from-scratch"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=os.environ.get("TMPDIR", "/tmp"))
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("localstripe did not start")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def stripe_standin(localstripe_url):
    state = StandIn(localstripe_url)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="stripe-standin", daemon=True)
    thread.start()
    yield state
    server.shutdown()
    thread.join(timeout=10)


def stripe_config(standin: StandIn) -> dict:
    return {"STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": standin.base, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}


@pytest.fixture
def stripe_on(app, stripe_standin, monkeypatch):
    """Billing with Stripe for one test: the app's config points at the stand-in."""
    for key, value in stripe_config(stripe_standin).items():
        monkeypatch.setitem(app.config, key, value)
    return stripe_standin


def stripe_api(standin: StandIn) -> stripe.StripeClient:
    """The tests' own Stripe client (to play the customer's bank and Stripe's dashboard)."""
    return stripe.StripeClient(API_KEY, base_addresses={"api": standin.base})


def signed(event: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[bytes, dict]:
    """A webhook body and its Stripe-Signature header, by Stripe's own signing scheme."""
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
    return payload.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}


def event(kind: str, obj: dict, event_id: str | None = None) -> dict:
    return {"id": event_id or "evt_" + secrets.token_hex(10), "object": "event", "type": kind,
            "api_version": stripe.api_version, "created": int(time.time()), "livemode": False,
            "data": {"object": obj}}


def paying_customer(client: stripe.StripeClient, customer_id: str, card: str = "4242424242424242") -> None:
    """Give a customer a card (4000000000000341: attaches, then every charge fails)."""
    pm = client.v1.payment_methods.create(params={
        "type": "card", "card": {"number": card, "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
    client.v1.payment_methods.attach(pm.id, params={"customer": customer_id})
    client.v1.customers.update(customer_id, params={"invoice_settings": {"default_payment_method": pm.id}})


def localstripe_plan(client: stripe.StripeClient, plan_key: str) -> str:
    """A localstripe Plan for one of ours (localstripe has plans, not prices)."""
    plan_id = f"alloyhub_{plan_key}_monthly"
    try:
        client.v1.plans.retrieve(plan_id)
    except stripe.StripeError:
        try:
            client.v1.products.retrieve(f"alloyhub_{plan_key}")
        except stripe.StripeError:
            client.v1.products.create(params={"id": f"alloyhub_{plan_key}", "name": f"AlloyHub {plan_key}"})
        client.v1.plans.create(params={"id": plan_id, "product": f"alloyhub_{plan_key}", "amount": 100,
                                       "currency": "cny", "interval": "month",
                                       "metadata": {"alloyhub_plan": plan_key}})
    return plan_id


def subscribe(client: stripe.StripeClient, customer_id: str, plan_key: str, tenant_id) -> dict:
    """What Checkout would have made: a subscription of the customer, in localstripe."""
    sub = client.v1.subscriptions.create(params={
        "customer": customer_id, "items": [{"plan": localstripe_plan(client, plan_key)}],
        "metadata": {"alloyhub_plan": plan_key, "tenant_id": str(tenant_id)}})
    return sub.to_dict()
