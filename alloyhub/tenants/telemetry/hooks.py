"""Who hears about stored points. The alarms room registers a handler:

    from alloyhub.tenants.telemetry import hooks

    @hooks.on_points
    def evaluate(tenant_id, agent_id, points): ...

After each committed write the ingest calls every handler once per agent
with (tenant_id, agent_id, points), the points of that agent's batches in
the write in the order they arrived, points being dicts {"tag", "ts" (aware
datetime), "v", "q"}, q as the agent sent it ("good", "uncertain", "bad"
from alloyhub-agent; an OPC classic code such as 192 from other publishers).
Only points newly stored, never a skipped duplicate. The ingest passes a
`StoredPoints`: a sequence of those dicts, built on first use, with the set
of its tags in `.tags` so a handler can decide cheaply that a batch does not
concern it.
A handler that raises is logged and skipped; it never stops the ingest.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Callable

log = logging.getLogger(__name__)

Handler = Callable[[object, object, list[dict]], None]
_handlers: list[Handler] = []


class StoredPoints(Sequence):
    """The points of one stored batch as {"tag", "ts", "v", "q"} dicts,
    made from the checked payload points when first read."""

    __slots__ = ("_raw", "_ts", "_built", "_tags")

    def __init__(self, raw: list[dict], ts_to_datetime: Callable[[str], object]):
        self._raw, self._ts, self._built, self._tags = raw, ts_to_datetime, None, None

    @property
    def tags(self) -> frozenset[str]:
        if self._tags is None:
            self._tags = frozenset(p["tag"] for p in self._raw)
        return self._tags

    @classmethod
    def joined(cls, parts: list[StoredPoints], tags: frozenset[str] | None = None) -> StoredPoints:
        """Several batches' points as one sequence, in the order given (their
        tags, when the caller knows them already)."""
        raw: list[dict] = []
        for part in parts:
            raw.extend(part._raw)
        joined = cls(raw, parts[0]._ts)
        joined._tags = tags
        return joined

    def _points(self) -> list[dict]:
        if self._built is None:
            ts = self._ts
            self._built = [{"tag": p["tag"], "ts": ts(p["ts"]), "v": p["v"], "q": p["q"]} for p in self._raw]
        return self._built

    def __getitem__(self, index):
        return self._points()[index]

    def __len__(self) -> int:
        return len(self._raw)

    def __iter__(self):
        return iter(self._points())


def on_points(fn: Handler) -> Handler:
    if fn not in _handlers:
        _handlers.append(fn)
    return fn


def remove(fn: Handler) -> None:
    if fn in _handlers:
        _handlers.remove(fn)


def has_handlers() -> bool:
    return bool(_handlers)


def dispatch(tenant_id, agent_id, points: list[dict]) -> int:
    """Call every handler; returns how many failed."""
    failed = 0
    for fn in list(_handlers):
        try:
            fn(tenant_id, agent_id, points)
        except Exception:  # a broken handler must not stop the ingest
            failed += 1
            log.exception("telemetry points handler %r failed", getattr(fn, "__qualname__", fn))
    return failed
