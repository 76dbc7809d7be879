"""Sources of points. Each kind's module is imported only when a source of that kind is
configured: asyncua and pymodbus are large, and a simulator-only agent should stay small."""
from __future__ import annotations

import importlib

from .base import Emit, Source, SourceError

KINDS = {
    "simulator": ("simulator", "SimulatorSource"),
    "modbus": ("modbus", "ModbusSource"),
    "opcua": ("opcua", "OpcUaSource"),
}


def make_source(cfg: dict, emit: Emit) -> Source:
    kind = cfg.get("kind")
    if kind not in KINDS:
        raise ValueError(f"source {cfg.get('name')!r}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    module, cls = KINDS[kind]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(cfg, emit)


__all__ = ["KINDS", "Emit", "Source", "SourceError", "make_source"]
