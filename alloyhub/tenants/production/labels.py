"""Stored values shown to people (work order statuses, pause reasons),
translated when rendered."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

LABELS = {
    # A work order's status: words other rooms use for other things (a released reservation, a running unit).
    "released": lazy_pgettext("work order", "Released"), "started": lazy_pgettext("work order", "Running"),
    "paused": _l("Paused"), "finished": _l("Finished"), "cancelled": _l("Cancelled"),
    "material_wait": _l("Waiting for material"), "breakdown": _l("Breakdown"), "setup": _l("Set-up / change-over"),
    "quality_check": _l("Quality check"), "shift_change": _l("Shift change"), "crane_wait": _l("Waiting for the crane"),
    "tooling": _l("Rolls or tooling"), "other": _l("Other"),
    "operation": _l("Operation"), "order_line": _l("Order line"), "product": _l("Product"),
    "unit": _l("Equipment unit"),
}


def label(value) -> str:
    return str(LABELS.get(value, value or ""))
