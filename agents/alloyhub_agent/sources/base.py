"""What every source shares: tag specs, health counters, the emit callback, polling on a grid."""
from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from typing import Callable

from ..tags import Reporter, TagSpec, iso

log = logging.getLogger(__name__)

Emit = Callable[[list], None]  # receives a list of (tag, ts, v, q)


class SourceError(Exception):
    """A source could not do what was asked (bad address, device refused, not connected)."""


class Source(ABC):
    kind = "base"

    def __init__(self, cfg: dict, emit: Emit):
        self.cfg = cfg
        self.name = str(cfg.get("name") or self.kind)
        self.tags = [TagSpec.from_dict(t) for t in cfg.get("tags") or []]
        self.by_tag = {t.tag: t for t in self.tags}
        self._emit = emit
        self.reporter = Reporter()
        self.ok = False
        self.last_error: str | None = None
        self.points = 0  # points emitted since the source started
        self._iso = (None, "")  # the last timestamp formatted: a tick's points share it

    # -- health ------------------------------------------------------------
    def set_error(self, err: BaseException | str) -> None:
        msg = (str(err) or type(err).__name__) if isinstance(err, BaseException) else str(err)
        if msg != self.last_error:
            log.warning("source %s: %s", self.name, msg)
        self.ok = False
        self.last_error = msg

    def set_ok(self) -> None:
        self.ok = True

    def health(self) -> dict:
        return {"ok": self.ok, "last_error": self.last_error, "points": self.points}

    def emit(self, points: list) -> None:
        if points:
            self.points += len(points)
            self._emit(points)

    def sample(self, spec: TagSpec, raw, quality: str, ts: float, now: float, out: list) -> None:
        """Map one raw sample and append it to ``out`` if the reporter says so."""
        value = spec.to_engineering(raw)
        if type(value) is float and not math.isfinite(value):  # NaN/inf: not a JSON number
            value, quality = str(value), "bad"
        if self.reporter.should_report(spec, value, quality, now):
            if self._iso[0] != ts:
                self._iso = (ts, iso(ts))
            out.append((spec.tag, self._iso[1], value, quality))

    def owns(self, tag: str) -> bool:
        return tag in self.by_tag

    # -- to implement --------------------------------------------------------
    @abstractmethod
    async def run(self) -> None:
        """Produce points through ``emit`` until cancelled."""

    async def write(self, tag: str, value):
        raise SourceError(f"source {self.name} ({self.kind}) does not accept writes")

    async def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release connections; called after the run task was cancelled."""


def period_groups(tags: list[TagSpec]) -> dict[int, list[TagSpec]]:
    groups: dict[int, list[TagSpec]] = {}
    for t in tags:
        groups.setdefault(t.period_ms, []).append(t)
    return groups

