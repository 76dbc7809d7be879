"""File storage and the parts' drawings, photos and certificates: the local
directory (default) and S3 through boto3 against moto's standalone server
(started here on a free port), with presigned upload and download URLs;
shared certificates reach the companies that see the listing, drawings do
not, and every download by another company lands in the holder's feed."""
from __future__ import annotations

import io
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from alloyhub.platform import storage
from tests.factories import ApiClient

PDF = b"%PDF-1.4\n% mill test certificate\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_server():
    binary = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    if not Path(binary).exists():
        pytest.fail("moto_server is not installed: `make test` installs it (pip install -e '.[test]')")
    port = _free_port()
    proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("moto_server exited")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def s3_app(app, moto_server):
    """An app on the test database whose files go to a bucket on the moto server."""
    import os

    import boto3

    from alloyhub import create_app

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    bucket = f"alloyhub-test-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    config = {k: app.config[k] for k in ("DATABASE_URL", "DATABASE_APP_URL", "REDIS_URL", "SECRET_KEY", "BASE_URL",
                                         "MQTT_URL")}
    yield create_app({**config, "TESTING": True, "S3_BUCKET": bucket, "S3_ENDPOINT_URL": moto_server,
                      "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}"})
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# ---------------------------------------------------------------- the stores themselves

def test_local_storage_round_trip_and_keys_stay_inside(tmp_path):
    store = storage.LocalStorage(tmp_path)
    key = storage.new_key(uuid.uuid4(), "spares", "../../etc/pass wd.pdf")
    assert ".." not in key and key.endswith("/pass_wd.pdf")
    store.put(key, PDF, "application/pdf")
    assert store.get(key) == PDF and store.size(key) == len(PDF)
    assert store.upload_ticket(key, "application/pdf") is None and store.download_url(key, "x.pdf") is None
    store.delete(key)
    assert store.size(key) is None
    with pytest.raises(storage.StorageError):
        store.get(key)
    with pytest.raises(storage.StorageError):
        store.put("../outside.txt", b"x", "text/plain")


def test_s3_presigned_upload_and_download(s3_app):
    with s3_app.app_context():
        store = storage.current()
        assert isinstance(store, storage.S3Storage)
        key = storage.new_key(uuid.uuid4(), "spares", "cert.pdf")
        ticket = store.upload_ticket(key, "application/pdf", len(PDF))
        assert ticket["method"] == "PUT" and "X-Amz-Signature" in ticket["url"]
        assert store.size(key) is None
        assert requests.put(ticket["url"], data=PDF, headers=ticket["headers"], timeout=10).status_code == 200
        assert store.size(key) == len(PDF)
        got = requests.get(store.download_url(key, "cert.pdf"), timeout=10)
        assert got.status_code == 200 and got.content == PDF
        assert "response-content-disposition=attachment" in store.download_url(key, "cert.pdf")
        store.delete(key)
        assert store.size(key) is None


# ---------------------------------------------------------------- attachments of parts

def _upload(api, part_id, kind, data=PDF, name="cert.pdf", **extra):
    return api.post(f"/api/v1/spare-parts/{part_id}/attachments",
                    data={"file": (io.BytesIO(data), name), "kind": kind, **extra}, content_type="multipart/form-data")


def test_certificates_travel_with_the_listing_drawings_do_not(company, tmp_path, app):
    app.config["STORAGE_DIR"] = str(tmp_path)
    a, b, c = company(), company(), company()
    part = a.part("22220-EK", share="subscribers", manufacturer="FAG")
    private = a.part("6206")
    cert = _upload(a.api, part, "certificate")
    assert cert.status_code == 201, cert.get_json()
    cert = cert.get_json()
    assert (cert["shared"], cert["stored"], cert["size"]) == (True, True, len(PDF))
    drawing = _upload(a.api, part, "drawing", b"DXF drawing", "roll.dxf").get_json()
    assert drawing["shared"] is False
    hidden = _upload(a.api, private, "certificate").get_json()
    # B sees the listing's certificate and downloads it; the read is in A's feed.
    url = b.api.get(f"/api/v1/spare-attachments/{cert['id']}/download").get_json()["url"]
    got = b.api.get(url.replace("http://localhost", ""))
    assert got.status_code == 200 and got.data == PDF
    html = b.browser().get(f"/spares/catalogue/{part}").get_data(as_text=True)
    assert "cert.pdf" in html and "roll.dxf" not in html
    for attachment in (drawing, hidden):
        assert b.api.get(f"/api/v1/spare-attachments/{attachment['id']}/download").status_code == 404
        assert b.api.get(f"/spares/attachments/{attachment['id']}").status_code == 404
    assert c.api.get(f"/api/v1/spare-attachments/{hidden['id']}/download").status_code == 404
    feed = a.api.get("/api/v1/share-activity").get_json()["items"]
    assert "downloaded" in {r["action"] for r in feed}
    # B cannot change or delete A's files.
    assert b.api.delete(f"/api/v1/spare-attachments/{cert['id']}").status_code == 404
    assert a.api.delete(f"/api/v1/spare-attachments/{cert['id']}").status_code == 204
    assert b.api.get(f"/api/v1/spare-attachments/{cert['id']}/download").status_code == 404


def test_bad_attachments_are_refused(company, tmp_path, app):
    app.config["STORAGE_DIR"] = str(tmp_path)
    a = company()
    part = a.part("6205")
    assert _upload(a.api, part, "selfie").status_code == 422
    assert _upload(a.api, part, "photo", b"MZ\x90\x00", "tool.exe").status_code == 422
    assert a.api.post(f"/api/v1/spare-parts/{part}/attachments", data={"kind": "photo"},
                      content_type="multipart/form-data").status_code == 422
    # Direct uploads need S3: with local storage the app says so.
    response = a.api.post(f"/api/v1/spare-parts/{part}/attachment-uploads",
                          json={"kind": "certificate", "filename": "c.pdf", "content_type": "application/pdf"})
    assert response.status_code == 409
    assert a.api.get(f"/api/v1/spare-parts/{part}/attachments").get_json() == []


def test_direct_upload_to_s3_then_confirm(company, s3_app, make_client):
    a, b = company(), company()
    part = a.part("32210", share="subscribers")
    alice = ApiClient(s3_app.test_client()).sign_in(a.made.owner_email)
    bob = ApiClient(s3_app.test_client()).sign_in(b.made.owner_email)
    started = alice.post(f"/api/v1/spare-parts/{part}/attachment-uploads",
                         json={"kind": "inspection_report", "filename": "UT report.pdf",
                               "content_type": "application/pdf", "size": len(PDF)})
    assert started.status_code == 201, started.get_json()
    ticket = started.get_json()
    attachment = ticket["attachment"]
    assert attachment["stored"] is False and attachment["shared"] is True
    confirm = f"/api/v1/spare-attachments/{attachment['id']}/confirm"
    assert alice.post(confirm).status_code == 409  # not there yet
    assert bob.get(f"/api/v1/spare-attachments/{attachment['id']}/download").status_code == 404
    assert requests.put(ticket["upload_url"], data=PDF, headers=ticket["headers"], timeout=10).status_code == 200
    confirmed = alice.post(confirm).get_json()
    assert confirmed["stored"] is True and confirmed["size"] == len(PDF)
    url = bob.get(f"/api/v1/spare-attachments/{attachment['id']}/download").get_json()["url"]
    assert url.startswith(s3_app.config["S3_ENDPOINT_URL"])
    assert requests.get(url, timeout=10).content == PDF
    # Through the app (multipart) with S3 too; the page redirects to a presigned URL.
    done = _upload(alice, part, "photo", b"\x89PNG\r\n\x1a\n....", "roll.png")
    assert done.status_code == 201, done.get_json()
    page = bob.client.get(f"/spares/attachments/{done.get_json()['id']}")
    assert page.status_code == 302 and page.headers["Location"].startswith(s3_app.config["S3_ENDPOINT_URL"])
