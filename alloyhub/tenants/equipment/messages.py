"""Messages that services raise with values in them ("Unit CM1 cannot roll
1600 mm wide strip"), translatable on pages all the same.

A `Msg` is the English text (so the API's problem+json and logs read
normally) that remembers its template and values; a page translates the
template and fills the values in (`mes_tr` filter in equipment/views.py).
The equipment, products and orders rooms share it.
"""
from __future__ import annotations


class Msg(str):
    template: str
    params: dict

    def __new__(cls, template: str, **params):
        text = template % params if params else template
        obj = super().__new__(cls, text)
        obj.template = template
        obj.params = params
        return obj


def msg(template: str, **params) -> Msg:
    return Msg(template, **params)


def translate(message, gettext) -> str:
    """The message in the page's language (a plain string is looked up as is)."""
    if not message:
        return ""
    if isinstance(message, Msg):
        translated = gettext(message.template)
        if message.params:
            try:
                return translated % message.params
            except (KeyError, TypeError, ValueError):
                return str(message)
        return translated
    return gettext(str(message))
