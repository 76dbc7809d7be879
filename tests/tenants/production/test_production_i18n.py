"""The production room's own Chinese catalogue: complete, placeholders kept,
compiled as written, and its work-order words kept apart (by context) from
the same English words other rooms use for other things."""
from __future__ import annotations

import re
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

CATALOGUE = Path(__file__).parents[3] / "alloyhub/tenants/production/translations/zh_CN/LC_MESSAGES"


def test_every_message_is_translated_and_compiled():
    catalogue = read_po((CATALOGUE / "messages.po").open("rb"), locale="zh_CN")
    messages = [m for m in catalogue if m.id]
    assert len(messages) > 100
    assert [m.id for m in messages if not m.string] == []
    assert [m.id for m in messages if m.fuzzy] == []
    for m in messages:
        assert sorted(re.findall(r"%\(\w+\)s", m.id)) == sorted(re.findall(r"%\(\w+\)s", m.string)), m.id
    compiled = read_mo((CATALOGUE / "messages.mo").open("rb"))
    def key(m):
        return (m.context.decode() if isinstance(m.context, bytes) else m.context), m.id

    assert {key(m): m.string for m in compiled if m.id} == {key(m): m.string for m in messages}


def test_work_order_words_do_not_change_other_rooms_words(app):
    from flask_babel import gettext, pgettext

    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert pgettext("work order", "Released") == "已下达"
        assert gettext("Released") != "已下达"  # a reservation's "released" stays the inventory room's word
        assert pgettext("work order status", "finished") == "已完工"
        assert gettext("Shop floor") == "车间执行"
