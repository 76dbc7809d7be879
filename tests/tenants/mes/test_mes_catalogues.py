"""The equipment, products and orders rooms' own Chinese catalogues: every
message translated with its placeholders, the compiled .mo the same as the
.po, nothing that overrides the platform's catalogue, and every string the
rooms' code and templates use is in one of the catalogues."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).parents[3]
ROOMS = ("equipment", "products", "orders")
PLATFORM = ROOT / "alloyhub/platform/i18n/translations/zh_CN/LC_MESSAGES/messages.po"


def _catalogue(room):
    return ROOT / f"alloyhub/tenants/{room}/translations/zh_CN/LC_MESSAGES"


@pytest.mark.parametrize("room", ROOMS)
def test_every_message_is_translated(room):
    catalogue = read_po((_catalogue(room) / "messages.po").open("rb"), locale="zh_CN")
    assert len(catalogue) > 100
    untranslated = [m.id for m in catalogue if m.id and not m.string]
    assert untranslated == [] and not catalogue.fuzzy and not [m.id for m in catalogue if m.id and m.fuzzy]
    for m in catalogue:
        if m.id:
            assert sorted(re.findall(r"%\(\w+\)s", m.id)) == sorted(re.findall(r"%\(\w+\)s", m.string)), m.id
    compiled = read_mo((_catalogue(room) / "messages.mo").open("rb"))
    assert {m.id: m.string for m in compiled if m.id} == {m.id: m.string for m in catalogue if m.id}
    platform = {m.id for m in read_po(PLATFORM.open("rb")) if m.id}
    assert {m.id for m in catalogue if m.id} & platform == set()


@pytest.mark.parametrize("room", ROOMS)
def test_every_string_in_use_is_in_a_catalogue(room, tmp_path):
    pot = tmp_path / f"{room}.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "extract", "-F",
                    str(ROOT / "alloyhub/platform/i18n/babel.cfg"), "-k", "_l", "-k", "N_", "-k", "msg",
                    "-o", str(pot), str(ROOT / f"alloyhub/tenants/{room}")], check=True, capture_output=True)
    used = {m.id for m in read_po(pot.open("rb")) if m.id}
    known = {m.id for m in read_po(PLATFORM.open("rb")) if m.id}
    known |= {m.id for m in read_po((_catalogue(room) / "messages.po").open("rb")) if m.id}
    assert sorted(used - known) == []
