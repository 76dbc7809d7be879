"""Small helpers shared by the inventory services."""
from __future__ import annotations

import math
import re

from alloyhub.platform import tenancy
from alloyhub.platform.errors import ValidationFailed

EPS = 0.0005  # kg: weights are kept to the gram
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]*$")


def current_user_id():
    return tenancy.current().user_id


def kg(value) -> float:
    """A weight in kg, to the gram."""
    return round(float(value or 0), 3)


def require(errors: dict) -> None:
    """Raise every field error at once (422), or nothing."""
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        raise ValidationFailed(errors=errors)


def clean(value):
    """Strings stripped, blanks as None; other values as they are."""
    if isinstance(value, str):
        value = value.strip()
    return value if value not in ("", None) else None


def positive(value) -> bool:
    return (value is not None and not isinstance(value, bool) and isinstance(value, (int, float))
            and math.isfinite(value) and value > 0)


def code_error(code: str | None, missing: str, max_length: int = 60) -> list[str]:
    """Numbers and codes people type and scanners read: letters, digits, . _ / -."""
    if not code:
        return [missing]
    if len(code) > max_length:
        return [f"Use at most {max_length} characters."]
    if not CODE_RE.match(code):
        return ["Use letters, digits and . _ / - only."]
    return []


def like_prefix(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def like_anywhere(q: str) -> str:
    return "%" + like_prefix(q)
