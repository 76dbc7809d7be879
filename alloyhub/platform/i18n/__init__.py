"""Chinese and English through flask-babel. The person picks; otherwise the
browser's Accept-Language decides."""
from __future__ import annotations

from pathlib import Path

from flask import g, request, session
from flask_babel import Babel

SUPPORTED = ("en", "zh_CN")
TRANSLATIONS_DIR = str(Path(__file__).parent / "translations")

babel = Babel()


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen not in SUPPORTED:
        chosen = request.accept_languages.best_match(["en", "zh_CN", "zh-CN", "zh"], default="en")
        chosen = "zh_CN" if chosen and chosen.startswith("zh") else "en"
    g.lang = chosen
    return chosen


def init_app(app) -> None:
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=TRANSLATIONS_DIR)
