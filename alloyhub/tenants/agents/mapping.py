"""The tag mapping editor's shapes: an agent's configuration as a page form
(a card per source, a row per tag, a "writable by commands" box per tag),
a source's tag table as CSV, and the service's field messages flattened to
the form's paths (`sources.0.tags.3.period_ms`).

The editor holds what the person typed, as text, so a refused form comes
back exactly as it was sent; `config_from_editor` turns it into the
structure `services.set_config` validates (marshmallow converts the
numbers). Nothing here writes.

Form field names: `sources-<i>-<field>` for a source (`faults` and
`fault_switches` repeat), `sources-<i>-tags-<j>-<field>` for a tag row;
the indices only order the cards and rows (gaps are fine, the page's
script numbers new ones past the highest).
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field

from .schemas import SIM_FAULTS

KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "simulator": ("seed", "points_per_second"),
    "modbus": ("host", "port", "unit", "timeout_s", "word_order", "max_gap"),
    "opcua": ("url", "username", "password", "timeout_s"),
}
CONNECTION_FIELDS = tuple(dict.fromkeys(f for fields_ in KIND_FIELDS.values() for f in fields_))
TAG_FIELDS = ("tag", "address", "data_type", "scale", "offset", "unit", "period_ms", "deadband", "keepalive_s",
              "word_order")
CSV_COLUMNS = (*TAG_FIELDS, "writable")
# Keys the form shows itself; any other key of a source travels in its hidden `extra` field.
SHOWN_KEYS = frozenset(("name", "kind", "tags", "faults", *CONNECTION_FIELDS))
DEFAULT_FAULT_PREFIX = "sim.fault."
NEW_TAG = {"tag": "", "address": "", "data_type": "float32", "scale": "1", "offset": "0", "unit": "",
           "period_ms": "1000", "deadband": "0", "keepalive_s": "", "word_order": "", "writable": False}
MAX_SOURCES, MAX_TAGS, MAX_CSV_ROWS = 50, 5000, 5000

_SOURCE_KEY = re.compile(r"^sources-(\d{1,4})-([a-z_]{1,30})$")
_TAG_KEY = re.compile(r"^sources-(\d{1,4})-tags-(\d{1,5})-([a-z_]{1,30})$")
_TRUE = frozenset(("1", "true", "yes", "y", "x", "on", "✓", "是", "真"))


def N_(message: str) -> str:
    """Marks a message for the catalogue; the view translates it."""
    return message


class FormProblem(Exception):
    """Input the editor cannot even read (bad JSON, an unreadable CSV file):
    a message id and its parameters, translated by the view."""

    def __init__(self, message: str, **params):
        super().__init__(message)
        self.message, self.params = message, params


@dataclass
class Source:
    name: str = ""
    kind: str = "simulator"
    fields: dict[str, str] = field(default_factory=dict)  # the kind's connection settings, as typed
    extra: str = ""  # JSON of the source's other keys (e.g. probe_s, fault_prefix), kept as they were
    faults: list[str] = field(default_factory=list)  # simulator: faults injected from the start
    fault_switches: list[str] = field(default_factory=list)  # simulator: faults commands may switch
    tags: list[dict] = field(default_factory=list)
    sent_as: int | None = None  # the index the form gave this source (the page renumbers them in order)

    @property
    def fault_prefix(self) -> str:
        return str(_extra(self.extra).get("fault_prefix") or DEFAULT_FAULT_PREFIX)


@dataclass
class Editor:
    sources: list[Source] = field(default_factory=list)
    allow_extra: str = ""  # allow-list entries that no box on the page stands for, one per line


# ---------------------------------------------------------------- config -> editor

def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _extra(text: str) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {k: v for k, v in value.items() if k not in SHOWN_KEYS} if isinstance(value, dict) else {}


def tag_row(tag: dict, writable: bool = False) -> dict:
    return {**{k: _text(tag.get(k)) for k in TAG_FIELDS}, "writable": writable}


def editor_from_config(config: dict, allow_write: list[str]) -> Editor:
    allow = list(allow_write or [])
    sources, covered = [], set()
    for raw in config.get("sources") or []:
        kind = str(raw.get("kind") or "")
        extra = {k: v for k, v in raw.items() if k not in SHOWN_KEYS}
        source = Source(name=_text(raw.get("name")), kind=kind,
                        fields={k: _text(raw.get(k)) for k in KIND_FIELDS.get(kind, ())},
                        extra=json.dumps(extra, ensure_ascii=False) if extra else "",
                        faults=[f for f in raw.get("faults") or [] if f in SIM_FAULTS])
        for tag in raw.get("tags") or []:
            source.tags.append(tag_row(tag, tag.get("tag") in allow))
            covered.add(tag.get("tag"))
        if kind == "simulator":
            switches = {source.fault_prefix + f: f for f in SIM_FAULTS}
            source.fault_switches = [f for name, f in switches.items() if name in allow]
            covered.update(switches)
        sources.append(source)
    return Editor(sources, "\n".join(a for a in allow if a not in covered))


def config_json(config: dict, allow_write: list[str]) -> str:
    """The "edit as JSON" text: the same structure the API takes."""
    return json.dumps({"sources": config.get("sources") or [], "allow_write": list(allow_write or [])},
                      indent=2, ensure_ascii=False)


# ---------------------------------------------------------------- form -> editor -> config

def editor_from_form(form) -> Editor:
    """What the person sent, as they typed it (tag rows with neither a name
    nor an address are blank rows and are left out)."""
    sources: dict[int, dict] = {}
    rows: dict[int, dict[int, dict]] = {}
    for key in form:
        if (m := _TAG_KEY.match(key)) is not None:
            i, j, name = int(m.group(1)), int(m.group(2)), m.group(3)
            if name in TAG_FIELDS or name == "writable":
                rows.setdefault(i, {}).setdefault(j, {})[name] = form.get(key, "")
        elif (m := _SOURCE_KEY.match(key)) is not None:
            i, name = int(m.group(1)), m.group(2)
            if name in ("faults", "fault_switches"):
                sources.setdefault(i, {})[name] = [f for f in form.getlist(key) if f in SIM_FAULTS]
            else:
                sources.setdefault(i, {})[name] = form.get(key, "")
    editor = Editor(allow_extra=(form.get("allow_extra") or "").strip())
    for i in sorted(sources):
        raw = sources[i]
        kind = (raw.get("kind") or "").strip()
        source = Source(name=(raw.get("name") or "").strip(), kind=kind, extra=raw.get("extra") or "",
                        fields={k: _clean(k, raw.get(k)) for k in CONNECTION_FIELDS if raw.get(k) is not None},
                        faults=list(raw.get("faults") or []), fault_switches=list(raw.get("fault_switches") or []),
                        sent_as=i)
        for j in sorted(rows.get(i, {})):
            row = rows[i][j]
            tag = {k: (row.get(k) or "").strip() for k in TAG_FIELDS}
            if tag["tag"] or tag["address"]:
                source.tags.append({**tag, "writable": (row.get("writable") or "").lower() in _TRUE})
        editor.sources.append(source)
    return editor


def _clean(name: str, value) -> str:
    value = value or ""
    return value if name == "password" else value.strip()


def config_from_editor(editor: Editor) -> dict:
    """The structure for `services.set_config`: empty fields are left out
    (the schema's defaults apply), the kind's own settings only, and the
    allow-list from the "writable" boxes and the fault switches."""
    sources, allow = [], []
    for source in editor.sources:
        data = dict(_extra(source.extra))
        data.update(name=source.name, kind=source.kind)
        for key in KIND_FIELDS.get(source.kind, ()):
            if source.fields.get(key):
                data[key] = source.fields[key]
        if source.kind == "simulator" and source.faults:
            data["faults"] = list(source.faults)
        tags = []
        for row in source.tags:
            tag = {k: row[k] for k in TAG_FIELDS if row.get(k)}
            if source.kind != "modbus":
                tag.pop("word_order", None)  # only registers have a word order
            tags.append(tag)
            if row.get("writable") and row.get("tag"):
                allow.append(row["tag"])
        data["tags"] = tags
        if source.kind == "simulator":
            allow.extend(source.fault_prefix + f for f in source.fault_switches)
        sources.append(data)
    allow.extend(a.strip() for a in re.split(r"[\n,]", editor.allow_extra) if a.strip())
    return {"sources": sources, "allow_write": list(dict.fromkeys(allow))}


def config_from_json(text: str) -> dict:
    """The "edit as JSON" box: {"sources": [...], "allow_write": [...]}, or a bare list of sources."""
    try:
        value = json.loads(text or "")
    except ValueError as exc:
        raise FormProblem(N_("This is not valid JSON (line %(line)s, column %(column)s)."),
                        line=getattr(exc, "lineno", "?"), column=getattr(exc, "colno", "?")) from exc
    if isinstance(value, list):
        value = {"sources": value, "allow_write": []}
    if not isinstance(value, dict):
        raise FormProblem(N_('Give an object with "sources" and "allow_write", or a list of sources.'))
    return value


# ---------------------------------------------------------------- errors

def flatten_errors(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages ({"sources": {0: {"tags": {3: {"period_ms": [...]}}}}})
    as {"sources.0.tags.3.period_ms": [...]}; messages of a whole object under its own path."""
    out: dict[str, list[str]] = {}

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, path if key == "_schema" else (f"{path}.{key}" if path else str(key)))
        elif isinstance(value, (list, tuple)):
            for inner in value:
                walk(inner, path)
        elif value is not None:
            out.setdefault(path or "__all__", []).append(str(value))

    walk(messages, prefix)
    return out


def shown_paths(editor: Editor) -> set[str]:
    """The error paths the editor shows beside a field or row."""
    paths = {"sources", "allow_write"}
    for i, source in enumerate(editor.sources):
        base = f"sources.{i}"
        paths.update({base, f"{base}.name", f"{base}.kind", f"{base}.tags", f"{base}.faults", f"{base}.csv"})
        paths.update(f"{base}.faults.{n}" for n in range(len(SIM_FAULTS)))
        paths.update(f"{base}.{k}" for k in KIND_FIELDS.get(source.kind, ()))
        for j in range(len(source.tags)):
            paths.update({f"{base}.tags.{j}", *(f"{base}.tags.{j}.{k}" for k in TAG_FIELDS)})
    return paths


# ---------------------------------------------------------------- CSV (a source's tag table)

_ALIASES = {
    "name": "tag", "tag_name": "tag", "type": "data_type", "datatype": "data_type", "period": "period_ms",
    "period_ms": "period_ms", "keepalive": "keepalive_s", "keep_alive": "keepalive_s", "keep_alive_s": "keepalive_s",
    "wordorder": "word_order", "writable_by_commands": "writable", "write": "writable", "allow_write": "writable",
}


def _column(header: str) -> str:
    key = re.sub(r"\((ms|s)\)", r"_\1", header.strip().lower().lstrip("\ufeff"))
    key = re.sub(r"[\s\-]+", "_", key).strip("_").replace("__", "_")
    return _ALIASES.get(key, key)


def tags_to_csv(rows: list[dict], sources: list[str] | None = None) -> str:
    """A tag table as CSV (UTF-8 with a byte-order mark, so spreadsheets read
    Chinese units right). With `sources` (one name per row) a first column
    says which source each row belongs to: the whole agent in one sheet."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow((["source"] if sources is not None else []) + list(CSV_COLUMNS))
    for n, row in enumerate(rows):
        writer.writerow(([sources[n]] if sources is not None else [])
                        + [*(row.get(k, "") for k in TAG_FIELDS), "yes" if row.get("writable") else ""])
    return out.getvalue()


def agent_tags_csv(editor: Editor) -> str:
    rows = [(source.name, row) for source in editor.sources for row in source.tags]
    return tags_to_csv([row for _, row in rows], [name for name, _ in rows])


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # spreadsheets in China often save GB 18030
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FormProblem(N_("The CSV file is neither UTF-8 nor GB 18030 text."))


def tags_from_csv(data: bytes, source: str | None = None) -> list[dict]:
    """Rows of a tag table from a spreadsheet's CSV export (comma, semicolon
    or tab separated; the columns of `CSV_COLUMNS` in any order, `tag`
    required). A `source` column (the whole agent's sheet) keeps the rows of
    `source` and those that name none."""
    text = _decode(data)
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise FormProblem(N_("The CSV file is empty.")) from None
    except csv.Error as exc:
        raise FormProblem(N_("The CSV file cannot be read: %(error)s"), error=str(exc)) from exc
    columns = [_column(h) for h in header]
    unknown = [h for h, c in zip(header, columns) if c and c not in CSV_COLUMNS and c != "source"]
    if unknown:
        raise FormProblem(N_("Unknown columns in the CSV file: %(columns)s. Use %(known)s."),
                          columns=", ".join(unknown), known=", ".join(CSV_COLUMNS))
    if "tag" not in columns:
        raise FormProblem(N_("The CSV file needs a tag column."))
    rows = []
    try:
        for record in reader:
            values = dict(zip(columns, (v.strip() for v in record)))
            if not any(values.values()) or values.get("source") not in (None, "", source):
                continue
            if len(rows) >= MAX_CSV_ROWS:
                raise FormProblem(N_("The CSV file has more than %(max)s tags."), max=MAX_CSV_ROWS)
            row = {**NEW_TAG, **{k: values.get(k, NEW_TAG[k]) for k in TAG_FIELDS if k in values}}
            row["writable"] = values.get("writable", "").lower() in _TRUE
            rows.append(row)
    except csv.Error as exc:
        raise FormProblem(N_("The CSV file cannot be read: %(error)s"), error=str(exc)) from exc
    if not rows and "source" in columns:
        raise FormProblem(N_("The CSV file has no rows for the source %(source)s."), source=source or "")
    return rows
