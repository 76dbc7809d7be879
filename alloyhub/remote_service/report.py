"""The diagnostic report as a PDF (fpdf2, pure Python).

Chinese text needs a CJK font. The first one fontconfig knows for Chinese
(`fc-list :lang=zh`, e.g. Debian's fonts-noto-cjk or fonts-wqy-microhei) is
used; without one the report falls back to DejaVu Sans (or the PDF core
font), shows CJK characters as "?" and says so on its first page, so the
reader knows to open the request page, which shows the same text in full.
"""
from __future__ import annotations

import functools
import os
import subprocess
import unicodedata

from fpdf import FPDF
from sqlalchemy import select

from alloyhub.platform.db import db

from .models import Annotation, RemoteCommand

FALLBACK_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
FALLBACK_NOTE = ("Note: no Chinese (CJK) font is installed on the server, so Chinese characters are shown as '?'. "
                 "Install one (e.g. the Debian package fonts-noto-cjk) for full reports; the request page shows "
                 "the full text.")


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """A font file that covers Chinese, if the machine has one."""
    path = os.environ.get("ALLOYHUB_CJK_FONT")
    if path and os.path.exists(path):
        return path
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in sorted(out.splitlines()):
        candidate = line.split(":", 1)[0].strip()
        # fpdf2 embeds TrueType/OpenType outlines; collections (.ttc) work too.
        if candidate.lower().endswith((".ttf", ".otf", ".ttc")) and os.path.exists(candidate):
            return candidate
    return None


def _is_cjk(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


class _Report(FPDF):
    def __init__(self):
        super().__init__(format="A4")
        self.set_auto_page_break(True, margin=15)
        self.cjk = cjk_font()
        self.family = "Helvetica"
        self.unicode = False
        font = self.cjk or next((f for f in FALLBACK_FONTS if os.path.exists(f)), None)
        if font:
            self.add_font("Report", "", font)
            self.family, self.unicode = "Report", True

    def clean(self, text) -> str:
        text = "" if text is None else str(text)
        if not self.cjk:
            text = "".join("?" if _is_cjk(ch) else ch for ch in text)
        if not self.unicode:
            text = text.encode("latin-1", "replace").decode("latin-1")
        return text

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font(self.family, size=13)
        self.multi_cell(0, 7, self.clean(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font(self.family, size=10)

    def para(self, text, size: int = 10) -> None:
        self.set_font(self.family, size=size)
        self.multi_cell(0, 5.5, self.clean(text) or "-", new_x="LMARGIN", new_y="NEXT")


def render(req) -> bytes:
    """The report of a resolved request, in the plant's and the expert's
    names; bytes of a PDF."""
    from .services import tenant_names

    names = tenant_names([req.tenant_id, req.expert_tenant_id])
    pdf = _Report()
    pdf.add_page()
    pdf.set_font(pdf.family, size=16)
    pdf.multi_cell(0, 9, pdf.clean("Remote diagnostic report / 远程诊断报告"), new_x="LMARGIN", new_y="NEXT")
    if not pdf.cjk:
        pdf.set_text_color(150, 0, 0)
        pdf.para(FALLBACK_NOTE, size=8)
        pdf.set_text_color(0, 0, 0)
    pdf.para(f"Request: {req.title}")
    pdf.para(f"Plant: {names.get(req.tenant_id, '-')}    Expert firm: {names.get(req.expert_tenant_id, '-')}")
    pdf.para(f"Unit: {req.unit_code} {req.unit_name} ({req.unit_kind})    Urgency: {req.urgency}")
    opened = req.created_at.strftime("%Y-%m-%d %H:%M UTC") if req.created_at else "-"
    resolved = req.resolved_at.strftime("%Y-%m-%d %H:%M UTC") if req.resolved_at else "-"
    pdf.para(f"Opened: {opened}    Resolved: {resolved}    Time spent: {req.hours or '-'} h")
    if req.alarm_label:
        pdf.para(f"Alarm: {req.alarm_label}")
    pdf.heading("Symptoms")
    pdf.para(req.symptoms)
    pdf.heading("Findings")
    pdf.para(req.findings)
    pdf.heading("Root cause")
    pdf.para(req.root_cause)
    pdf.heading("Recommended actions")
    if req.actions:
        for i, action in enumerate(req.actions, 1):
            part = f" [part {action['part_number']}]" if action.get("part_number") else ""
            pdf.para(f"{i}. ({action.get('kind')}) {action.get('text')}{part}")
    else:
        pdf.para("-")
    notes = list(db.session.scalars(select(Annotation).where(Annotation.request_id == req.id)
                                    .order_by(Annotation.ts_from)))
    if notes:
        pdf.heading("Chart annotations")
        for note in notes:
            span = note.ts_from.strftime("%Y-%m-%d %H:%M:%S")
            if note.ts_to:
                span += " - " + note.ts_to.strftime("%Y-%m-%d %H:%M:%S")
            pdf.para(f"{note.tag} @ {span} UTC: {note.body}")
    commands = list(db.session.scalars(select(RemoteCommand).where(RemoteCommand.request_id == req.id)
                                       .order_by(RemoteCommand.created_at)))
    if commands:
        pdf.heading("Remote commands")
        for cmd in commands:
            params = ", ".join(f"{k}={v}" for k, v in cmd.params.items())
            pdf.para(f"{cmd.kind} ({params}): {cmd.status}. Reason: {cmd.reason}")
    return bytes(pdf.output())
