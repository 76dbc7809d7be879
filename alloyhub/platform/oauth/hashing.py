"""Hashes of the secrets this room hands out (client secrets, tokens, codes).
They are long random strings, so one SHA-256 is enough: there is nothing to
guess, only a database leak to make useless."""
from __future__ import annotations

import hashlib
import hmac


def hash_secret(value: str) -> str:
    return hashlib.sha256((value or "").encode()).hexdigest()


def secrets_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
