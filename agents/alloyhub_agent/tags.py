"""Tag mapping: raw value -> engineering value, deadband and keep-alive, points."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

GOOD, BAD, UNCERTAIN = "good", "bad", "uncertain"
QUALITIES = (GOOD, BAD, UNCERTAIN)
DATA_TYPES = ("int16", "uint16", "int32", "uint32", "float32", "bool")


def iso(ts: float) -> str:
    """Epoch seconds -> ISO 8601 UTC with milliseconds, e.g. 2026-11-23T09:13:27.100Z."""
    return datetime.fromtimestamp(round(ts, 3), timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(time.time())


@dataclass
class TagSpec:
    tag: str
    address: str = ""
    data_type: str = "float32"
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    period_ms: int = 1000
    deadband: float = 0.0
    keepalive_s: float = 60.0
    word_order: str | None = None  # Modbus: "big" (default) or "little"

    @classmethod
    def from_dict(cls, d: dict) -> "TagSpec":
        if not d.get("tag"):
            raise ValueError("tag without a name")
        dt = d.get("data_type") or "float32"
        if dt not in DATA_TYPES:
            raise ValueError(f"tag {d['tag']}: unknown data_type {dt!r}")
        period = int(d.get("period_ms") or 1000)
        if period < 10:
            raise ValueError(f"tag {d['tag']}: period_ms must be >= 10")
        return cls(
            tag=str(d["tag"]),
            address=str(d.get("address", "")),
            data_type=dt,
            scale=float(d.get("scale", 1.0) if d.get("scale") is not None else 1.0),
            offset=float(d.get("offset", 0.0) or 0.0),
            unit=str(d.get("unit") or ""),
            period_ms=period,
            deadband=float(d.get("deadband") or 0.0),
            keepalive_s=float(d.get("keepalive_s") or 60.0),
            word_order=d.get("word_order"),
        )

    def to_engineering(self, raw):
        """Apply scale and offset (not to booleans or strings)."""
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            return raw
        if self.scale == 1.0 and self.offset == 0.0:
            return raw
        return raw * self.scale + self.offset

    def to_raw(self, value):
        """Inverse of to_engineering, for writes."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value
        if self.scale == 0:
            raise ValueError(f"tag {self.tag}: scale 0 cannot be inverted")
        raw = (value - self.offset) / self.scale
        if self.data_type in ("int16", "uint16", "int32", "uint32"):
            return int(round(raw))
        return raw


@dataclass
class _Last:
    value: object = None
    quality: str | None = None
    reported_at: float = -math.inf


@dataclass
class Reporter:
    """Decides which samples become points: the first one, a quality change, a move of more
    than the deadband since the last reported value, or the keep-alive period elapsed."""

    last: dict = field(default_factory=dict)

    def should_report(self, spec: TagSpec, value, quality: str, now: float) -> bool:
        last = self.last.get(spec.tag)
        if last is None:
            last = self.last[spec.tag] = _Last()
        report = (
            last.quality != quality
            or now - last.reported_at >= spec.keepalive_s
            or _moved(last.value, value, spec.deadband)
        )
        if report:
            last.value, last.quality, last.reported_at = value, quality, now
        return report

    def forget(self, tag: str | None = None) -> None:
        if tag is None:
            self.last.clear()
        else:
            self.last.pop(tag, None)


def _moved(old, new, deadband: float) -> bool:
    if old is None:
        return True
    if isinstance(new, bool) or isinstance(old, bool) or not isinstance(new, (int, float)) \
            or not isinstance(old, (int, float)):
        return old != new
    if deadband <= 0:
        return True  # no deadband: every sample is reported
    return abs(new - old) > deadband
