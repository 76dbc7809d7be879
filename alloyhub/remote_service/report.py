"""The diagnostic report as a PDF (fpdf2, pure Python), in the plant's
language (zh-CN or English, see `report_language`).

Chinese text needs a CJK font. The first one fontconfig knows for Chinese
(`fc-list :lang=zh`, e.g. Debian's fonts-noto-cjk or fonts-wqy-microhei; `make
fonts` installs the latter) or one at a known Debian path is used; without one
the report falls back to DejaVu Sans (or the PDF core font), shows CJK
characters as "?" and says so on its first page, so the reader knows to open
the request page, which shows the same text in full.
"""
from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import unicodedata

from flask import g, has_request_context
from flask_babel import gettext as _
from fpdf import FPDF
from sqlalchemy import select

from alloyhub.platform.db import db

from .messages import LABELS
from .models import Annotation, RemoteCommand

FALLBACK_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
# Where Debian's CJK font packages put their files, for a machine without fc-list.
KNOWN_CJK_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                   "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                   "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
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
        out = ""
    for line in [*KNOWN_CJK_FONTS, *sorted(out.splitlines())]:
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


SUPPORTED = ("en", "zh_CN")


def _locale(value) -> str | None:
    value = (value or "").replace("-", "_")
    if value.lower().startswith("zh"):
        return "zh_CN"
    return "en" if value.lower().startswith("en") else None


def report_language(req) -> str:
    """The plant's language: the locale its requester chose, else the
    language the plant wrote the request in (Chinese characters in its
    title or symptoms), else the current person's, else English. The report
    is for the plant, and an expert firm abroad resolves it in its own."""
    from alloyhub.platform.identity.models import User

    if req.created_by:
        chosen = _locale(db.session.scalar(select(User.locale).where(User.id == req.created_by)))
        if chosen:
            return chosen
    if any(_is_cjk(ch) for ch in f"{req.title}{req.symptoms}"):
        return "zh_CN"
    if has_request_context():
        from alloyhub.platform.i18n import select_locale

        return _locale(g.get("lang") or select_locale()) or "en"
    return "en"


@contextlib.contextmanager
def _language(lang: str):
    """gettext answers in `lang` meanwhile (the platform's catalogue domain
    reads the language from g)."""
    if not has_request_context():
        yield
        return
    before = g.get("lang")
    g.lang = lang
    try:
        yield
    finally:
        if before is None:
            g.pop("lang", None)
        else:
            g.lang = before


def _label(code) -> str:
    return str(LABELS.get(code, code if code is not None else "-"))


def render(req, lang: str | None = None) -> bytes:
    """The report of a resolved request, in the plant's and the expert's
    names; bytes of a PDF."""
    lang = lang if lang in SUPPORTED else report_language(req)
    if lang == "zh_CN" and not cjk_font():
        lang = "en"  # Chinese labels would all print as "?": English ones at least read
    with _language(lang):
        return _render(req, lang)


def _render(req, lang: str) -> bytes:
    from .services import tenant_names

    names = tenant_names([req.tenant_id, req.expert_tenant_id])
    pdf = _Report()
    pdf.set_lang("zh-CN" if lang == "zh_CN" else "en")
    pdf.set_title(pdf.clean(_("Remote diagnostic report")))
    pdf.add_page()
    pdf.set_font(pdf.family, size=16)
    pdf.multi_cell(0, 9, pdf.clean(_("Remote diagnostic report")), new_x="LMARGIN", new_y="NEXT")
    if not pdf.cjk:
        pdf.set_text_color(150, 0, 0)
        pdf.para(FALLBACK_NOTE, size=8)
        pdf.set_text_color(0, 0, 0)
    sep = "：" if lang == "zh_CN" and pdf.cjk else ": "

    def fact(label: str, value) -> str:
        return f"{label}{sep}{value if value not in (None, '') else '-'}"

    pdf.para(fact(_("Request"), req.title))
    pdf.para(f"{fact(_('Plant'), names.get(req.tenant_id))}    "
             f"{fact(_('Expert firm'), names.get(req.expert_tenant_id))}")
    pdf.para(f"{fact(_('Unit'), f'{req.unit_code} {req.unit_name} ({req.unit_kind})')}    "
             f"{fact(_('Urgency'), _label(req.urgency))}")
    opened = req.created_at.strftime("%Y-%m-%d %H:%M UTC") if req.created_at else None
    resolved = req.resolved_at.strftime("%Y-%m-%d %H:%M UTC") if req.resolved_at else None
    spent = f"{req.hours} {_('h')}" if req.hours else None
    pdf.para(f"{fact(_('Opened'), opened)}    {fact(_('Report delivered'), resolved)}    "
             f"{fact(_('Time spent'), spent)}")
    if req.alarm_label:
        pdf.para(fact(_("Alarm"), req.alarm_label))
    pdf.heading(_("Symptoms"))
    pdf.para(req.symptoms)
    pdf.heading(_("Findings"))
    pdf.para(req.findings)
    pdf.heading(_("Root cause"))
    pdf.para(req.root_cause)
    pdf.heading(_("Recommended actions"))
    if req.actions:
        for i, action in enumerate(req.actions, 1):
            part = f" [{_('Part number')} {action['part_number']}]" if action.get("part_number") else ""
            pdf.para(f"{i}. ({_label(action.get('kind'))}) {action.get('text')}{part}")
    else:
        pdf.para("-")
    notes = list(db.session.scalars(select(Annotation).where(Annotation.request_id == req.id)
                                    .order_by(Annotation.ts_from)))
    if notes:
        pdf.heading(_("Annotations on the charts"))
        for note in notes:
            span = note.ts_from.strftime("%Y-%m-%d %H:%M:%S")
            if note.ts_to:
                span += " - " + note.ts_to.strftime("%Y-%m-%d %H:%M:%S")
            pdf.para(f"{note.tag} @ {span} UTC: {note.body}")
    commands = list(db.session.scalars(select(RemoteCommand).where(RemoteCommand.request_id == req.id)
                                       .order_by(RemoteCommand.created_at)))
    if commands:
        pdf.heading(_("Remote commands"))
        for cmd in commands:
            params = ", ".join(f"{k}={v}" for k, v in cmd.params.items())
            pdf.para(f"{_label(cmd.kind)} ({params}): {_label(cmd.status)}. {fact(_('Why'), cmd.reason)}")
    return bytes(pdf.output())
