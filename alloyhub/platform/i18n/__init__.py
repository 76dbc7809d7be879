"""Chinese and English through flask-babel. The person picks; otherwise the
browser's Accept-Language decides.

The platform's catalogue lives in translations/<code>/LC_MESSAGES/messages.po
(+ the compiled .mo, kept in the repository so a plain install works); babel.cfg
says how to extract the strings. A room may ship its own catalogue beside its
code (`<room>/translations/zh_CN/LC_MESSAGES/messages.po`): it is merged over
the platform's, so rooms add their strings without touching a shared file.
"""
from __future__ import annotations

import functools
from pathlib import Path

from babel import support
from flask import g, has_request_context, request, session
from flask_babel import Babel, Domain

SUPPORTED = ("en", "zh_CN")
TRANSLATIONS_DIR = str(Path(__file__).parent / "translations")


def select_locale() -> str:
    if not has_request_context():  # a job or a command: no person to ask
        return "en"
    chosen = session.get("lang")
    if chosen not in SUPPORTED:
        chosen = request.accept_languages.best_match(["en", "zh_CN", "zh-CN", "zh"], default="en")
        chosen = "zh_CN" if chosen and chosen.startswith("zh") else "en"
    g.lang = chosen
    return chosen


PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def catalogue_dirs() -> list[str]:
    """The platform's catalogue first, then every room's, in a stable order."""
    rooms = sorted(str(p) for p in PACKAGE_ROOT.glob("**/translations")
                   if p.is_dir() and str(p) != str(Path(TRANSLATIONS_DIR).resolve()))
    return [TRANSLATIONS_DIR, *rooms]


@functools.cache
def catalogue(code: str) -> support.Translations:
    dirs = catalogue_dirs()
    merged = support.Translations.load(dirs[0], [code], "messages")
    for directory in dirs[1:]:
        room = support.Translations.load(directory, [code], "messages")
        if isinstance(room, support.Translations):  # a NullTranslations when the room has no such language
            merged.merge(room)
    return merged


class _CatalogueDomain(Domain):
    """Finds the catalogue by our own language code. Babel >= 2.17 reads
    "zh_CN" as zh_Hans_CN, and gettext would then look for a zh_Hans_CN/ or
    zh/ folder, never the customary zh_CN/ one."""

    def get_translations(self):
        if not has_request_context():
            return super().get_translations()
        return catalogue(g.get("lang") or select_locale())


class _Babel(Babel):
    @functools.cached_property
    def domain_instance(self):
        return _CatalogueDomain(domain=self.domain)


babel = _Babel()


def init_app(app) -> None:
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=TRANSLATIONS_DIR)

    @app.before_request
    def _choose_language():
        # Chosen up front, so the layout knows the language before any string is translated.
        select_locale()
