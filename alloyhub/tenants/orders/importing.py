"""Import customer orders from a CSV or Excel (.xlsx) file.

One row per order line. Columns (English or Chinese headers, any order):

    order_number 订单号   rows sharing it form one order; empty: the row is an order of its own
    customer     客户     customer code (required)
    customer_po  客户PO   the customer's reference
    product      产品     product code (required)
    quantity     数量     above zero (required)
    unit         单位     t or coils (default t)
    due_date     交期     YYYY-MM-DD, or an Excel date (required)
    priority     优先级   1-4 or low / normal / high / urgent (default 2)
    notes        备注

Every row is checked, all problems are reported with their row number, and
nothing is imported unless every row is right (one transaction). Imported
orders are drafts, or confirmed when asked (then every product needs a
routing).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from alloyhub.platform.db import db, utcnow
from alloyhub.platform.errors import ValidationFailed
from alloyhub.tenants.equipment.messages import msg
from alloyhub.tenants.products.models import Product

from . import services
from .models import Customer, Order

MAX_ROWS = 2000
MAX_BYTES = 2 * 1024 * 1024
HEADERS = {
    "order_number": ("order_number", "order", "order no", "order_no", "订单号", "订单编号"),
    "customer": ("customer", "customer_code", "客户", "客户代码"),
    "customer_po": ("customer_po", "po", "客户po", "客户订单号"),
    "product": ("product", "product_code", "产品", "产品代码"),
    "quantity": ("quantity", "qty", "数量"),
    "unit": ("unit", "quantity_unit", "单位"),
    "due_date": ("due_date", "due", "交期", "交货日期"),
    "priority": ("priority", "优先级"),
    "notes": ("notes", "note", "备注"),
}
REQUIRED = ("customer", "product", "quantity", "due_date")
PRIORITY_WORDS = {"low": 1, "normal": 2, "high": 3, "urgent": 4, "低": 1, "普通": 2, "高": 3, "紧急": 4}
UNIT_WORDS = {"t": "t", "tonne": "t", "tonnes": "t", "ton": "t", "吨": "t", "coil": "coils", "coils": "coils",
              "卷": "coils"}


@dataclass
class RowError:
    row: int
    column: str | None
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": str(self.message)}


@dataclass
class ImportResult:
    orders: list[Order]
    lines: int


class ImportFailed(ValidationFailed):
    """Rows with problems: nothing was imported. `rows` lists them all."""


def _key(header) -> str | None:
    name = re.sub(r"\s+", " ", str(header or "")).strip().lower()
    for key, names in HEADERS.items():
        if name in names or name.replace(" ", "_") in names:
            return key
    return None


def _rows_from_table(table: list[list]) -> list[tuple[int, dict]]:
    """(row number as people see it, {column: value}) for the non-empty rows."""
    if not table:
        raise ImportFailed("The file is empty.", errors={"file": ["The file is empty."]}, rows=[])
    keys = [_key(h) for h in table[0]]
    missing = [k for k in REQUIRED if k not in keys]
    if missing:
        message = msg("Missing columns: %(columns)s.", columns=", ".join(missing))
        raise ImportFailed(message, errors={"file": [message]}, rows=[RowError(1, None, message).as_dict()])
    rows = []
    for number, cells in enumerate(table[1:], start=2):
        values = {}
        for key, cell in zip(keys, cells):
            if key is not None:
                values[key] = cell
        if any(v not in (None, "") and str(v).strip() for v in values.values()):
            rows.append((number, values))
    if len(rows) > MAX_ROWS:
        message = msg("At most %(max)s rows per file.", max=MAX_ROWS)
        raise ImportFailed(message, errors={"file": [message]}, rows=[])
    return rows


def parse(filename: str, data: bytes) -> list[tuple[int, dict]]:
    """Rows of a .csv or .xlsx file (by its name, else by its content)."""
    if len(data) > MAX_BYTES:
        raise ImportFailed("The file is larger than 2 MB.", errors={"file": ["The file is larger than 2 MB."]},
                           rows=[])
    name = (filename or "").lower()
    if name.endswith(".xlsx") or data[:2] == b"PK":
        return _rows_from_table(_xlsx_table(data))
    if name.endswith((".xls", ".xlsm", ".ods")):
        raise ImportFailed("Save the sheet as .xlsx or .csv.", errors={"file": ["Save the sheet as .xlsx or .csv."]},
                           rows=[])
    return _rows_from_table(_csv_table(data))


def _csv_table(data: bytes) -> list[list]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportFailed("The file is not text (UTF-8 or GB18030).",
                           errors={"file": ["The file is not text (UTF-8 or GB18030)."]}, rows=[])
    if "\x00" in text:
        raise ImportFailed("The file is not a CSV file.", errors={"file": ["The file is not a CSV file."]}, rows=[])
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return [row for row in csv.reader(io.StringIO(text), dialect)]
    except csv.Error as exc:
        raise ImportFailed("The CSV file cannot be read.", errors={"file": [str(exc)]}, rows=[]) from exc


def _xlsx_table(data: bytes) -> list[list]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise ImportFailed("The Excel file cannot be read.", errors={"file": ["The Excel file cannot be read."]},
                           rows=[]) from exc
    try:
        sheet = book.worksheets[0]
        table = []
        for row in sheet.iter_rows(values_only=True):
            table.append(list(row))
            if len(table) > MAX_ROWS + 1 + 1000:  # blank rows aside, far too many
                break
        return table
    finally:
        book.close()


# ---------------------------------------------------------------- checking rows

def _cell(values: dict, key: str) -> str:
    value = values.get(key)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and key in ("order_number", "customer", "product"):
        value = int(value)
    return str(value).strip()


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        return None


def _date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value < 80000:
        return date(1899, 12, 30) + timedelta(days=int(value))  # an Excel serial day
    text = str(value or "").strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def check_rows(rows: list[tuple[int, dict]], *, confirm: bool = False, today: date | None = None):
    """(orders to make, row errors). An order: {number, customer, po, lines: [(row, line values)]}."""
    today = today or utcnow().date()
    errors: list[RowError] = []
    customers = {c.code: c for c in db.session.scalars(select(Customer))}
    products_ = {p.code: p for p in db.session.scalars(select(Product))}
    orders: dict[str, dict] = {}
    for number, values in rows:
        def fail(column, message, row=number):
            errors.append(RowError(row, column, message))

        order_number = _cell(values, "order_number") or f"#row{number}"
        code = _cell(values, "customer").upper()
        customer = customers.get(code)
        if not code:
            fail("customer", "Give the customer code.")
        elif customer is None:
            fail("customer", msg("Unknown customer %(code)s.", code=code))
        elif not customer.active:
            fail("customer", msg("The customer %(code)s is inactive.", code=code))
        pcode = _cell(values, "product").upper()
        product = products_.get(pcode)
        if not pcode:
            fail("product", "Give the product code.")
        elif product is None:
            fail("product", msg("Unknown product %(code)s.", code=pcode))
        elif not product.active:
            fail("product", msg("The product %(code)s is no longer made.", code=pcode))
        elif confirm and not product.operations:
            fail("product", msg("The product %(code)s has no routing yet: it cannot be made.", code=pcode))
        quantity = _number(values.get("quantity"))
        if quantity is None or quantity != quantity or quantity in (float("inf"), float("-inf")):
            fail("quantity", "Enter the quantity as a number.")
        elif quantity <= 0:
            fail("quantity", "The quantity must be above zero.")
        elif quantity > 100000:
            fail("quantity", "At most 100000.")
        unit_text = _cell(values, "unit").lower() or "t"
        unit = UNIT_WORDS.get(unit_text)
        if unit is None:
            fail("unit", "The unit is t or coils.")
        elif unit == "coils" and quantity is not None and quantity > 0 and quantity != int(quantity):
            fail("quantity", "Coils come whole.")
        due = _date(values.get("due_date"))
        if due is None:
            fail("due_date", "Give the due date as YYYY-MM-DD.")
        elif due < today:
            fail("due_date", msg("The due date %(date)s is in the past.", date=due.isoformat()))
        elif due > services.MAX_DATE:
            fail("due_date", "Give a due date before 2100.")
        raw_priority = _cell(values, "priority").lower()
        priority = 2
        if raw_priority:
            priority = PRIORITY_WORDS.get(raw_priority)
            if priority is None:
                number_ = _number(raw_priority)
                priority = int(number_) if number_ in (1.0, 2.0, 3.0, 4.0) else None
            if priority is None:
                fail("priority", "The priority is 1-4 or low, normal, high, urgent.")
        po = _cell(values, "customer_po")
        if len(po) > 80:
            fail("customer_po", "At most 80 characters.")
        notes = _cell(values, "notes")
        if len(order_number) > 40 or not re.match(r"^[A-Za-z0-9#][A-Za-z0-9_.\-/]{0,39}$", order_number):
            fail("order_number", "Use letters, digits, '-', '_', '.' or '/' in order numbers (at most 40).")
        entry = orders.setdefault(order_number, {"number": order_number, "customer": customer, "po": po or None,
                                                 "rows": [], "lines": []})
        entry["rows"].append(number)
        if customer is not None and entry["customer"] is not None and entry["customer"].id != customer.id:
            fail("customer", msg("Rows of order %(number)s name different customers.", number=order_number))
        entry["lines"].append((number, {"product_id": product.id if product else None, "quantity": quantity,
                                        "quantity_unit": unit or "t", "due_date": due, "priority": priority,
                                        "notes": notes or None}))
    given = [n for n in orders if not n.startswith("#row")]
    if given:
        taken = set(db.session.scalars(select(Order.number).where(Order.number.in_(given))))
        for number in taken:
            for row in orders[number]["rows"]:
                errors.append(RowError(row, "order_number", msg("The order %(number)s exists already.",
                                                                number=number)))
    errors.sort(key=lambda e: (e.row, e.column or ""))
    return list(orders.values()), errors


def import_rows(rows: list[tuple[int, dict]], *, confirm: bool = False, filename: str | None = None) -> ImportResult:
    """All or nothing: every row is right and imported, or ImportFailed lists them."""
    planned, errors = check_rows(rows, confirm=confirm)
    if not rows and not errors:
        errors = [RowError(1, None, "The file has no order lines.")]
    if errors:
        raise _failed(errors)
    made = []
    note = msg("Imported from %(file)s.", file=filename or "a file")
    try:
        for entry in planned:
            number = None if entry["number"].startswith("#row") else entry["number"]
            order = services.create_order(customer_id=entry["customer"].id, customer_po=entry["po"],
                                          number=number, lines=[values for _, values in entry["lines"]],
                                          commit=False, note=str(note))
            db.session.flush()
            if confirm:
                services.confirm_order(order, str(note), commit=False)
            made.append(order)
    except ValidationFailed as exc:
        db.session.rollback()
        raise _failed([RowError(0, None, m) for msgs in (exc.errors or {}).values() for m in msgs]
                      or [RowError(0, None, exc.detail)]) from exc
    db.session.commit()
    return ImportResult(made, sum(len(e["lines"]) for e in planned))


def _failed(errors: list[RowError]) -> ImportFailed:
    by_row: dict[str, list] = {}
    for e in errors:
        by_row.setdefault(f"row {e.row}" if e.row else "file", []).append(
            msg("%(column)s: %(message)s", column=e.column, message=e.message) if e.column else e.message)
    count = len({e.row for e in errors})
    detail = msg("%(count)s rows have errors; nothing was imported.", count=count)
    failed = ImportFailed(detail, errors=by_row, rows=[e.as_dict() for e in errors])
    failed.row_errors = errors  # with their messages' templates, for the page to translate
    return failed


def import_file(filename: str, data: bytes, *, confirm: bool = False) -> ImportResult:
    return import_rows(parse(filename, data), confirm=confirm, filename=filename)

