"""File storage behind one small interface: a local directory by default,
S3 (boto3) when S3_BUCKET is set, with presigned URLs so browsers and API
clients upload and download directly, without passing the bytes through
the web process.

    store = storage.current()
    key = storage.new_key(tenant_id, "spares", "cert.pdf")
    store.put(key, data, "application/pdf")
    ticket = store.upload_ticket(key, "application/pdf", size)   # None: upload through the app
    url = store.download_url(key, "cert.pdf")                   # None: serve through the app

Keys start with the tenant id, so one company's files are never under
another's prefix; the rooms keep the key with the record that owns the file
and check access there (the ledger, for shared ones).

The bytes under a company's prefix are its file storage (`stored_bytes`,
counted by the usage meter against the plan's storage_gb), and storing one
more file asks the registered quota guards first (`quota_guard`; the
billing room refuses what the plan has no room for, 403 plan-required).
"""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from flask import current_app, has_app_context

DEFAULT_EXPIRY_S = 900
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class StorageError(RuntimeError):
    """The store did not do what was asked (missing object, backend down)."""


def safe_name(filename: str) -> str:
    name = _SAFE.sub("_", os.path.basename(filename or "file")).strip("._") or "file"
    return name[-120:]


def new_key(tenant_id, area: str, filename: str) -> str:
    return f"{tenant_id}/{area}/{uuid.uuid4().hex}/{safe_name(filename)}"


def tenant_of(key: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(key.split("/", 1)[0])
    except ValueError:
        return None


# fn(tenant_id, adding_bytes), raising to refuse: asked before a company's
# file is stored (the billing room registers the plan's storage limit).
_quota_guards: list = []


def quota_guard(fn):
    if fn not in _quota_guards:
        _quota_guards.append(fn)
    return fn


def _check_quota(key: str, size: int | None) -> None:
    tenant_id = tenant_of(key)
    if tenant_id is None or size is None or not has_app_context():
        return
    for guard in _quota_guards:
        guard(tenant_id, size)


def stored_bytes(tenant_id) -> int:
    """Bytes of the company's files in the app's store."""
    return current().tenant_bytes(tenant_id)


class LocalStorage:
    """Files under a directory (var/files by default)."""

    name = "local"

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise StorageError("key outside the storage directory")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        _check_quota(key, len(data))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise StorageError("no such file") from exc

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.exists() else None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def tenant_bytes(self, tenant_id) -> int:
        top = self._path(str(uuid.UUID(str(tenant_id))))
        if not top.is_dir():
            return 0
        return sum(f.stat().st_size for f in top.rglob("*") if f.is_file() and not f.name.endswith(".part"))

    def upload_ticket(self, key: str, content_type: str, size: int | None = None,
                      expires: int = DEFAULT_EXPIRY_S) -> dict | None:
        return None

    def download_url(self, key: str, filename: str, expires: int = DEFAULT_EXPIRY_S) -> str | None:
        return None


class S3Storage:
    """An S3 bucket (or any S3-compatible store at S3_ENDPOINT_URL)."""

    name = "s3"

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None, client=None):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1",
            config=Config(signature_version="s3v4", retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30))

    def _call(self, fn, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3: {exc}") from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        _check_quota(key, len(data))
        self._call(self.client.put_object, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        return self._call(self.client.get_object, Key=key)["Body"].read()

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(f"S3: {exc}") from exc

    def delete(self, key: str) -> None:
        self._call(self.client.delete_object, Key=key)

    def tenant_bytes(self, tenant_id) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        total = 0
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=f"{uuid.UUID(str(tenant_id))}/"):
                total += sum(obj["Size"] for obj in page.get("Contents", ()))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3: {exc}") from exc
        return total

    def upload_ticket(self, key: str, content_type: str, size: int | None = None,
                      expires: int = DEFAULT_EXPIRY_S) -> dict:
        """A presigned PUT: the client sends the file straight to S3 with
        these headers, then tells the app it is there. A declared size is
        checked against the quota now."""
        _check_quota(key, size)
        url = self.client.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=expires)
        return {"url": url, "method": "PUT", "headers": {"Content-Type": content_type}}

    def download_url(self, key: str, filename: str, expires: int = DEFAULT_EXPIRY_S) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key,
                                  "ResponseContentDisposition": f'attachment; filename="{safe_name(filename)}"'},
            ExpiresIn=expires)


def current():
    """The app's store: S3 when S3_BUCKET is set, else the local directory."""
    cache = current_app.extensions.setdefault("alloyhub_storage", {})
    cfg = current_app.config
    key = (cfg.get("S3_BUCKET"), cfg.get("S3_ENDPOINT_URL"), cfg.get("STORAGE_DIR"))
    if key not in cache:
        if cfg.get("S3_BUCKET"):
            cache[key] = S3Storage(cfg["S3_BUCKET"], endpoint_url=cfg.get("S3_ENDPOINT_URL"),
                                   region=cfg.get("S3_REGION"))
        else:
            root = cfg.get("STORAGE_DIR") or str(Path(cfg.get("ALLOYHUB_VAR_DIR", "var")) / "files")
            cache[key] = LocalStorage(root)
    return cache[key]
