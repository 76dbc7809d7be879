"""Enrolment against a tiny stand-in for the cloud's enrol endpoint (tests only)."""
import json
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alloyhub_agent.cli import main
from alloyhub_agent.settings import Settings

CA = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"


class StandIn(BaseHTTPRequestHandler):
    tokens = {"good-token": "a-7f3c"}
    requests: list = []
    overrides: dict = {}  # fields a test wants in the 200 answer

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        StandIn.requests.append((self.path, self.headers["Content-Type"], body))
        agent_id = self.tokens.pop(body.get("token"), None)  # one-time tokens
        if self.path != "/api/v1/agents/enroll" or agent_id is None:
            problem = {"type": "https://alloyhub.example/problems/enrolment-token-invalid",
                       "title": "Enrolment token invalid", "status": 400,
                       "detail": "This enrolment token was already used or has expired."}
            self._send(400, "application/problem+json", problem)
            return
        self._send(200, "application/json", {
            "agent_id": agent_id, "tenant_id": "t-1",
            "mqtt": {"url": "mqtts://broker.example:8883", "username": f"agent-{agent_id}",
                     "password": "s3cret", "client_id": f"agent-{agent_id}"},
            "topic_prefix": f"ah/v1/{agent_id}", "ca_cert": CA,
            "config": {"version": 1, "sources": [], "allow_write": []},
            **self.overrides,
        })

    def _send(self, status, ctype, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def cloud():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    StandIn.requests.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_enroll_writes_a_private_config_and_the_ca(cloud, tmp_path, capsys):
    path = tmp_path / "etc" / "agent.json"
    assert main(["enroll", "--url", cloud, "--token", "good-token", "--config", str(path)]) == 0
    [(url_path, ctype, body)] = StandIn.requests
    assert url_path == "/api/v1/agents/enroll" and ctype == "application/json"
    assert body["token"] == "good-token" and body["hostname"] and body["agent_version"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["mqtt"] == {"url": "mqtts://broker.example:8883", "username": "agent-a-7f3c",
                             "password": "s3cret", "client_id": "agent-a-7f3c"}
    assert saved["topic_prefix"] == "ah/v1/a-7f3c" and saved["tenant_id"] == "t-1"
    assert (tmp_path / "etc" / "ca.pem").read_text() == CA
    s = Settings.from_file(str(path))
    assert s.ca_file == str(tmp_path / "etc" / "ca.pem") and s.broker == ("broker.example", 8883, True)
    assert s.topic("telemetry") == "ah/v1/a-7f3c/telemetry" and s.config["version"] == 1
    assert "enrolled as agent a-7f3c" in capsys.readouterr().out


def test_a_refused_token_shows_the_problem_detail(cloud, tmp_path, capsys):
    path = tmp_path / "agent.json"
    assert main(["enroll", "--url", cloud, "--token", "used-token", "--config", str(path)]) != 0
    err = capsys.readouterr().err
    assert "This enrolment token was already used or has expired." in err
    assert not path.exists()


def test_an_unreachable_cloud_is_reported(tmp_path, capsys):
    assert main(["enroll", "--url", "http://127.0.0.1:9", "--token", "x",
                 "--config", str(tmp_path / "a.json")]) != 0
    assert "cannot reach" in capsys.readouterr().err


def make_tls_files(d):
    """A throw-away CA and a server certificate for 127.0.0.1."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, issuer, key, signer, ca):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
        return b.sign(signer, hashes.SHA256())

    ca_key, srv_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AlloyHub test CA")])
    srv_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    ca = cert(ca_name, ca_name, ca_key, ca_key, True)
    srv = cert(srv_name, ca_name, srv_key, ca_key, False)
    pem = serialization.Encoding.PEM
    (d / "ca.crt").write_bytes(ca.public_bytes(pem))
    (d / "server.crt").write_bytes(srv.public_bytes(pem))
    (d / "server.key").write_bytes(srv_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                                         serialization.NoEncryption()))
    return ca.public_bytes(pem).decode()


def test_enrolled_agent_runs_over_tls_with_the_ca_it_was_given(tmp_path, monkeypatch):
    import signal
    import subprocess

    from agent_helpers import AGENT_CMD, Broker, Collector, agent_env, free_port

    tls = tmp_path / "tls"
    tls.mkdir()
    ca_pem = make_tls_files(tls)
    tls_port = free_port()
    broker = Broker(tmp_path, extra=f"listener {tls_port} 127.0.0.1\ncafile {tls}/ca.crt\n"
                                    f"certfile {tls}/server.crt\nkeyfile {tls}/server.key\n")
    broker.start()
    monkeypatch.setattr(StandIn, "tokens", {"tls-token": "tls1"})
    monkeypatch.setattr(StandIn, "overrides", {  # the broker's TLS listener, its CA, a first config
        "mqtt": {"url": f"mqtts://127.0.0.1:{tls_port}", "username": "agent-tls1", "password": "x",
                 "client_id": "agent-tls1"},
        "ca_cert": ca_pem,
        "config": {"version": 1, "allow_write": [], "sources": [
            {"name": "sim", "kind": "simulator", "tags": [{"tag": "mill.speed", "address": "speed",
                                                           "period_ms": 100}]}]},
    })
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = tmp_path / "etc" / "agent.json"
    assert main(["enroll", "--url", f"http://127.0.0.1:{server.server_address[1]}", "--token", "tls-token",
                 "--config", str(path)]) == 0
    server.shutdown()

    c = Collector(broker.port, "tls1")  # the test listens on the plain listener
    agent = subprocess.Popen(AGENT_CMD + ["run", "--config", str(path)], env=agent_env(),
                             stdout=open(tmp_path / "agent.log", "wb"), stderr=subprocess.STDOUT)
    try:
        c.wait_for(lambda c: len(c.batches) >= 2, what="telemetry over TLS")
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
        c.close()
        broker.stop()
    assert c.batches[0]["points"][0]["tag"] == "mill.speed"
