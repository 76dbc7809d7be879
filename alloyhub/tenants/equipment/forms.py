"""Reading HTML forms into service arguments, for the pages of the
equipment, products and orders rooms: numbers, dates and ids as typed,
every unreadable field reported (then the service is not called)."""
from __future__ import annotations

import math
import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo


class FormReader:
    def __init__(self, form):
        self.form = form
        self.errors: dict[str, list] = {}

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def text(self, name: str) -> str | None:
        return (self.form.get(name) or "").strip() or None

    def number(self, name: str, *, key: str | None = None) -> float | None:
        raw = (self.form.get(name) or "").strip().replace(",", "")
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            self.fail(key or name, "Enter a number.")
            return None
        if not math.isfinite(value):
            self.fail(key or name, "Enter a number.")
            return None
        return value

    def integer(self, name: str, *, key: str | None = None) -> int | None:
        value = self.number(name, key=key)
        if value is None:
            return None
        if value != int(value):
            self.fail(key or name, "Enter a whole number.")
            return None
        return int(value)

    def uuid(self, name: str) -> uuid.UUID | None:
        raw = (self.form.get(name) or "").strip()
        if not raw:
            return None
        try:
            return uuid.UUID(raw)
        except ValueError:
            self.fail(name, "Choose one from the list.")
            return None

    def date(self, name: str) -> date | None:
        raw = (self.form.get(name) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.fail(name, "Give the date as YYYY-MM-DD.")
            return None

    def local_datetime(self, name: str, tz: str) -> datetime | None:
        """A datetime-local field read in the plant's time zone."""
        raw = (self.form.get(name) or "").strip()
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            self.fail(name, "Give the date and time.")
            return None
        return value.replace(tzinfo=ZoneInfo(tz)) if value.tzinfo is None else value

    def checked(self, name: str) -> bool:
        return self.form.get(name) in ("on", "1", "true", "yes")

    def many(self, name: str) -> list[str]:
        return [v for v in self.form.getlist(name) if v]
