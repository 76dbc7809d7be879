"""The PDF report is in the plant's language, Chinese set in a CJK font
(`make test` installs one: `make fonts`). The text is read back out of the
PDF through its fonts' ToUnicode maps, as a PDF reader extracts it."""
from __future__ import annotations

import re
import zlib

import pytest
from sqlalchemy import text

from alloyhub.remote_service import report
from tests.remote_service.conftest import accepted_request

API = "/api/v1/remote-service"


def _streams(pdf: bytes) -> list[bytes]:
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        raw = match.group(1)
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            out.append(raw)
    return out


def _literal(raw: bytes) -> bytes:
    """A PDF literal string's bytes, escapes undone."""
    out, i = bytearray(), 0
    escapes = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}
    while i < len(raw):
        ch = raw[i]
        if ch == 0x5C and i + 1 < len(raw):  # backslash
            nxt = raw[i + 1]
            if nxt in escapes:
                out += escapes[nxt]
                i += 2
            elif 0x30 <= nxt <= 0x37:
                digits = re.match(rb"[0-7]{1,3}", raw[i + 1:i + 4]).group(0)
                out.append(int(digits, 8) & 0xFF)
                i += 1 + len(digits)
            else:
                out.append(nxt)
                i += 2
        else:
            out.append(ch)
            i += 1
    return bytes(out)


def pdf_text(pdf: bytes) -> str:
    """Every shown string (Tj, TJ), decoded through the ToUnicode maps (2-byte codes, Identity-H)."""
    streams = _streams(pdf)
    cmap: dict[int, str] = {}
    for s in streams:
        if b"begincmap" in s:
            for code, uni in re.findall(rb"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]+)>", s):
                cmap[int(code, 16)] = bytes.fromhex(uni.decode()).decode("utf-16-be")
    lines, line = [], []
    for s in streams:
        # literals in order; Tj shows one, TJ (justified text) an array of them: a line each
        for token in re.finditer(rb"\(((?:\\.|[^\\)])*)\)|\bT[jJ]\b", s, re.S):
            if token.group(1) is None:
                lines.append("".join(line))
                line = []
                continue
            data = _literal(token.group(1))
            line.append("".join(cmap.get(int.from_bytes(data[i:i + 2], "big"), "\ufffd")
                                for i in range(0, len(data) - 1, 2)))
    return "\n".join(lines)


@pytest.fixture
def cjk():
    font = report.cjk_font()
    assert font, "no CJK font is installed: `make fonts` installs Debian's fonts-wqy-microhei"
    return font


def _resolve(w, req_id, findings):
    resolved = w.expert.api.post(f"{API}/requests/{req_id}/resolve", json={
        "findings": findings, "root_cause": "Integral gain", "hours": "1",
        "actions": [{"text": "Retune the loop", "kind": "setting"}]})
    assert resolved.status_code == 200, resolved.get_json()
    pdf = w.plant.api.get(f"{API}/files/{resolved.get_json()['report_attachment_id']}/content")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    return pdf.data


def _font_names(pdf: bytes) -> set[str]:
    return {name.decode().split("+")[-1] for name in re.findall(rb"/BaseFont\s*/([^\s/>\]]+)", pdf)}


def test_a_chinese_plant_gets_its_report_in_chinese(world, cjk):
    w = world
    req_id = accepted_request(w, title="1号冷轧机张力报警", symptoms="出口张力每班两次超过50千牛")
    pdf = _resolve(w, req_id, "张力控制器积分增益过高")
    body = pdf_text(pdf)
    for expected in ("远程诊断报告", "故障现象", "出口张力每班两次超过50千牛", "发现", "张力控制器积分增益过高",
                     "根本原因", "建议措施", "参数调整", "紧急程度：高"):
        assert expected in body, expected
    assert "Remote diagnostic report" not in body and "Symptoms" not in body
    assert "\ufffd" not in body and "?" not in body.replace("??", "")  # nothing fell back
    assert not _font_names(pdf) & {"Helvetica", "DejaVuSans"}  # set in the CJK font


def test_an_english_request_gets_an_english_report(world, cjk):
    w = world
    req_id = accepted_request(w)
    body = pdf_text(_resolve(w, req_id, "The integral gain is too high; 积分增益过高"))
    for expected in ("Remote diagnostic report", "Symptoms", "Exit gauge oscillates at 2 Hz", "Findings",
                     "积分增益过高", "Recommended actions", "Setting change"):
        assert expected in body, expected
    assert "远程诊断报告" not in body


def test_the_requesters_chosen_language_decides(world, cjk, owner_engine):
    w = world
    with owner_engine.begin() as conn:
        conn.execute(text("update users set locale = 'zh-CN' where id = :id"), {"id": w.plant.made.owner_id})
    req_id = accepted_request(w)  # written in English, by a person who reads Chinese
    body = pdf_text(_resolve(w, req_id, "Integral gain too high"))
    assert "远程诊断报告" in body and "Integral gain too high" in body and "Exit gauge oscillates at 2 Hz" in body


def test_without_a_cjk_font_the_report_renders_and_says_so(world, monkeypatch):
    w = world
    monkeypatch.setattr(report, "cjk_font", lambda: None)  # a server without any Chinese font
    req_id = accepted_request(w, title="1号冷轧机张力报警", symptoms="Exit tension 出口张力")
    body = pdf_text(_resolve(w, req_id, "Integral gain 积分增益"))
    assert "no Chinese (CJK) font is installed" in " ".join(body.split("\n"))
    assert "Remote diagnostic report" in body and "Findings" in body  # English labels, not "????"
    assert "Integral gain ????" in body and "积分增益" not in body
