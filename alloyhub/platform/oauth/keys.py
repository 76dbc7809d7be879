"""The OpenID Connect signing key (RS256).

Taken from OIDC_PRIVATE_KEY (PEM) when set; otherwise read from
OIDC_KEY_FILE, which the first process to need it creates. The file is
created with O_EXCL so that several workers starting together agree on one
key: the loser of the race reads the winner's file."""
from __future__ import annotations

import os
from pathlib import Path

from flask import current_app
from joserfc.jwk import KeySet, RSAKey


def signing_key() -> RSAKey:
    cache = current_app.extensions.setdefault("alloyhub_oidc", {})
    if "key" not in cache:
        pem = current_app.config.get("OIDC_PRIVATE_KEY") or _load_or_create(Path(current_app.config["OIDC_KEY_FILE"]))
        key = RSAKey.import_key(pem)
        key.ensure_kid()
        cache["key"] = key
    return cache["key"]


def jwks() -> dict:
    return KeySet([signing_key()]).as_dict(private=False)


def _load_or_create(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = RSAKey.generate_key(2048, private=True).as_pem(private=True).decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text()
    with os.fdopen(fd, "w") as f:
        f.write(pem)
    return pem
