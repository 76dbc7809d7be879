"""The Gantt chart as server-rendered SVG: one row per unit, bars coloured by
alloy family with the order/line label, change-overs as hatched blocks
before the bar, furnace loads stacked inside one outlined group, locked
operations with a heavy outline, begun ones (frozen) greyed, the shop
floor's actual times as a thin bar under the plan, down windows in red and
a line at now. Each bar carries data attributes the page's script reads to
offer lock / move."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from alloyhub.platform.db import utcnow

ZOOMS = {"hour": 40.0, "day": 4.0, "week": 0.8}   # pixels per hour
FAMILY_COLOURS = {
    "1xxx": "#4e79a7", "2xxx": "#f28e2b", "3xxx": "#59a14f", "4xxx": "#b07aa1", "5xxx": "#e15759",
    "6xxx": "#76b7b2", "7xxx": "#edc948", "8xxx": "#9c755f", "copper": "#d37295", "brass": "#c9a227",
    "bronze": "#a0522d", "other": "#8c8c8c",
}
LEFT, TOP, ROW, PAD = 96, 34, 40, 4


@dataclass
class Row:
    unit_id: str
    code: str
    name: str


def colour(family: str | None) -> str:
    return FAMILY_COLOURS.get(family or "other", "#8c8c8c")


def _x(moment: datetime, t0: datetime, scale: float) -> float:
    return LEFT + (moment - t0).total_seconds() / 3600 * scale


def render(rows: list[Row], operations, *, zoom: str, tz: ZoneInfo, actuals: dict | None = None,
           down: list[dict] | None = None, now: datetime | None = None, labels: dict | None = None) -> Markup:
    scale = ZOOMS.get(zoom, ZOOMS["day"])
    now = now or utcnow()
    labels = labels or {}
    ops = list(operations)
    starts = [op.start - timedelta(minutes=op.setup_minutes) for op in ops] + [now]
    ends = [op.end for op in ops] + [now + timedelta(hours=1)]
    t0 = min(starts).astimezone(tz).replace(minute=0, second=0, microsecond=0)
    t0 = t0.replace(hour=t0.hour - t0.hour % 2) if zoom == "hour" else t0.replace(hour=0)
    t1 = max(ends) + timedelta(hours=2)
    width = int(_x(t1, t0, scale)) + 20
    height = TOP + ROW * len(rows) + 10
    index = {r.unit_id: i for i, r in enumerate(rows)}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" data-testid="gantt" data-zoom="{escape(zoom)}">',
           '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
           '<line x1="0" y1="0" x2="0" y2="6" stroke="#555" stroke-width="2"/></pattern></defs>']
    # rows and the time axis
    for i, row in enumerate(rows):
        y = TOP + i * ROW
        out.append(f'<rect x="0" y="{y}" width="{width}" height="{ROW}" fill="{"#f7f9fa" if i % 2 else "#fff"}"/>')
        out.append(f'<text x="6" y="{y + ROW / 2 + 4}" class="g-unit" data-testid="gantt-row" '
                   f'data-unit="{escape(row.code)}">{escape(row.code)}</text>')
    out.extend(_axis(t0, t1, scale, tz, zoom, height))
    for window in down or ():
        i = index.get(str(window["unit_id"]))
        if i is None:
            continue
        a, b = max(window["start"], t0), min(window["end"], t1)
        if b <= a:
            continue
        out.append(f'<rect class="g-down" data-testid="gantt-down" x="{_x(a, t0, scale):.1f}" y="{TOP + i * ROW + 1}" '
                   f'width="{max(1.0, _x(b, t0, scale) - _x(a, t0, scale)):.1f}" height="{ROW - 2}" '
                   f'fill="#b3261e" fill-opacity="0.15" stroke="#b3261e" stroke-dasharray="3 2"/>')
    # furnace loads: members of one batch share the row height
    batches: dict[str, list] = {}
    for op in ops:
        if op.batch_key:
            batches.setdefault(op.batch_key, []).append(op)
    for key, members in batches.items():
        i = index.get(str(members[0].unit_id))
        if i is None or len(members) < 1:
            continue
        a, b = min(m.start for m in members), max(m.end for m in members)
        out.append(f'<rect class="g-batch" data-testid="gantt-batch" data-batch="{escape(key)}" '
                   f'x="{_x(a, t0, scale) - 1:.1f}" y="{TOP + i * ROW + 1}" '
                   f'width="{_x(b, t0, scale) - _x(a, t0, scale) + 2:.1f}" height="{ROW - 2}" fill="none" '
                   f'stroke="#1c2733" stroke-width="1.5" rx="3"><title>{escape(key)}</title></rect>')
    slot = {}
    for members in batches.values():
        for n, m in enumerate(sorted(members, key=lambda o: o.label)):
            slot[m.id] = (n, len(members))
    for op in ops:
        i = index.get(str(op.unit_id))
        if i is None:
            continue
        n, of = slot.get(op.id, (0, 1))
        inner = ROW - 2 * PAD - 6
        h = inner / of
        y = TOP + i * ROW + PAD + n * h
        x1, x2 = _x(op.start, t0, scale), _x(op.end, t0, scale)
        w = max(2.0, x2 - x1)
        local = op.start.astimezone(tz)
        title = f"{op.label} · {local:%Y-%m-%d %H:%M} – {op.end.astimezone(tz):%Y-%m-%d %H:%M}"
        if op.setup_minutes:
            title += f" · {labels.get('setup', 'set-up')} {op.setup_minutes} min"
        classes = ["op"] + (["locked"] if op.locked else []) + (["frozen"] if op.frozen else [])
        data = {"op-id": str(op.id), "label": op.label, "unit": str(op.unit_id),
                "start": f"{local:%Y-%m-%dT%H:%M}", "eligible": json.dumps(op.eligible),
                "locked": "1" if op.locked else "0", "frozen": "1" if op.frozen else "0"}
        attrs = " ".join(f'data-{k}="{escape(v)}"' for k, v in data.items())
        out.append(f'<g class="{" ".join(classes)}" tabindex="0" data-testid="gantt-op" {attrs}>'
                   f'<title>{escape(title)}</title>')
        if op.setup_minutes and n == 0:
            sx = _x(op.start - timedelta(minutes=op.setup_minutes), t0, scale)
            out.append(f'<rect class="g-setup" data-testid="gantt-setup" x="{sx:.1f}" y="{y:.1f}" '
                       f'width="{max(1.0, x1 - sx):.1f}" height="{h:.1f}" fill="url(#hatch)" stroke="#555" '
                       f'stroke-width="0.5"/>')
        stroke = ' stroke="#111" stroke-width="2.5"' if op.locked else ' stroke="#fff" stroke-width="0.5"'
        opacity = ' fill-opacity="0.45"' if op.frozen else ""
        out.append(f'<rect x="{x1:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="2" '
                   f'fill="{colour(op.alloy_family)}"{opacity}{stroke}/>')
        if w > 46 and h >= 10:
            text = op.label if not op.locked else "\U0001F512 " + op.label
            out.append(f'<text x="{x1 + 3:.1f}" y="{y + min(h, 16) - 4:.1f}" class="g-label" '
                       f'clip-path="none">{escape(_fit(text, w))}</text>')
        actual = (actuals or {}).get((op.order_line_id, op.step))
        if actual is not None and getattr(actual, "actual_start", None):
            a_end = actual.actual_end or now
            ax1, ax2 = _x(actual.actual_start, t0, scale), _x(a_end, t0, scale)
            out.append(f'<rect class="g-actual" data-testid="gantt-actual" x="{ax1:.1f}" '
                       f'y="{TOP + i * ROW + ROW - PAD - 4}" width="{max(2.0, ax2 - ax1):.1f}" height="4" '
                       f'fill="#1c2733"><title>{escape(labels.get("actual", "actual"))}: '
                       f'{actual.actual_start.astimezone(tz):%Y-%m-%d %H:%M} – '
                       f'{a_end.astimezone(tz):%Y-%m-%d %H:%M}</title></rect>')
        out.append("</g>")
    nx = _x(now, t0, scale)
    out.append(f'<line class="g-now" x1="{nx:.1f}" y1="{TOP - 6}" x2="{nx:.1f}" y2="{height}" stroke="#b3261e" '
               f'stroke-width="1.5"/>')
    out.append("</svg>")
    return Markup("".join(out))


def _fit(text: str, width: float) -> str:
    chars = max(3, int(width / 6.5))
    return text if len(text) <= chars else text[:chars - 1] + "…"


def _axis(t0: datetime, t1: datetime, scale: float, tz: ZoneInfo, zoom: str, height: int) -> list[str]:
    out = []
    step = {"hour": timedelta(hours=1), "day": timedelta(hours=6), "week": timedelta(days=1)}.get(zoom,
                                                                                              timedelta(hours=6))
    t = t0
    while t <= t1:
        local = t.astimezone(tz)
        x = _x(t, t0, scale)
        major = local.hour == 0
        out.append(f'<line x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{height}" stroke="{"#9aa7b3" if major else "#e3e8ed"}"/>')
        if zoom == "hour" and local.hour % 2 == 0:
            out.append(f'<text x="{x + 2:.1f}" y="{TOP - 8}" class="g-tick">{local:%H:%M}</text>')
            if major:
                out.append(f'<text x="{x + 2:.1f}" y="12" class="g-day">{local:%Y-%m-%d %a}</text>')
        elif zoom == "day" and major:
            out.append(f'<text x="{x + 2:.1f}" y="{TOP - 8}" class="g-day">{local:%m-%d %a}</text>')
        elif zoom == "week" and local.weekday() == 0:
            out.append(f'<text x="{x + 2:.1f}" y="{TOP - 8}" class="g-day">{local:%m-%d}</text>')
        t = t + step
    return out
