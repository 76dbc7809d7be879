"""A plant's own spare-parts stock: parts, stock moves, site locations and
the CSV/Excel import. Every quantity change is a stock move, so the numbers
add up; a part's shared face (its listing) is kept in step by `listings`."""
from __future__ import annotations

import csv
import io
import math
import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, or_, select

from alloyhub.platform import audit, tenancy
from alloyhub.platform.db import db, get_or_404
from alloyhub.platform.errors import Conflict, ValidationFailed
from alloyhub.platform.identity import services as identity
from alloyhub.platform.identity.models import Site
from alloyhub.platform.search import normalise_code

from .models import CONDITIONS, SpareAlternate, SparePart, SpareRequest, SpareReservation, SpareStockMove

PART_FIELDS = ("site_id", "part_number", "manufacturer", "manufacturer_part_number", "description", "category",
               "equipment_models", "dimensions", "condition", "location", "min_stock", "unit_price", "currency",
               "notes")
MAX_MODELS = 30
MAX_IMPORT_ROWS = 5000
_CURRENCY = re.compile(r"^[A-Z]{3}$")


# ---------------------------------------------------------------- reading

def parts_query(q: str | None = None, category: str | None = None, condition: str | None = None, site_id=None,
                below_min: bool = False):
    stmt = select(SparePart)
    if q:
        like = f"%{q.strip()}%"
        norm = normalise_code(q)
        clauses = [SparePart.description.ilike(like), SparePart.manufacturer.ilike(like),
                   SparePart.part_number.ilike(like), SparePart.manufacturer_part_number.ilike(like)]
        if norm:
            clauses.append(SparePart.part_number_norm.contains(norm))
        stmt = stmt.where(or_(*clauses))
    if category:
        stmt = stmt.where(SparePart.category == category)
    if condition:
        stmt = stmt.where(SparePart.condition == condition)
    if site_id:
        stmt = stmt.where(SparePart.site_id == site_id)
    if below_min:
        stmt = stmt.where(SparePart.quantity < SparePart.min_stock)
    return stmt


def get_part(part_id) -> SparePart:
    return get_or_404(SparePart, part_id, "No such spare part")


def categories() -> list[str]:
    return list(db.session.scalars(select(SparePart.category).where(SparePart.category.is_not(None)).distinct()
                                   .order_by(SparePart.category).limit(500)))


def sites() -> list[Site]:
    return list(db.session.scalars(select(Site).order_by(Site.code)))


def reserved_quantity(part_id) -> int:
    """Units held by requests not yet shipped (reservations)."""
    return db.session.scalar(select(func.coalesce(func.sum(SpareReservation.quantity), 0))
                             .where(SpareReservation.listing_id == part_id)) or 0


# ---------------------------------------------------------------- validation

def _clean_text(value, limit: int) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value[:limit] if value else None


def _models(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = re.split(r"[;,，；\n]", value)
    return [m.strip()[:120] for m in value if m and str(m).strip()]


def _validate(values: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not (values.get("part_number") or "").strip():
        errors["part_number"] = ["Enter the part number."]
    elif not normalise_code(values["part_number"]):
        errors["part_number"] = ["A part number needs letters or digits."]
    if values.get("condition") not in CONDITIONS:
        errors["condition"] = ["Choose new, refurbished or used."]
    for key in ("quantity", "min_stock"):
        value = values.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10**9):
            errors[key] = ["Enter a whole number, zero or more."]
    price = values.get("unit_price")
    if price is not None and (not isinstance(price, Decimal) or not price.is_finite() or not 0 <= price < 10**12):
        errors["unit_price"] = ["Enter a price, zero or more."]
    if not _CURRENCY.match(values.get("currency") or ""):
        errors["currency"] = ["Use a three-letter currency code, e.g. CNY."]
    if len(values.get("equipment_models") or []) > MAX_MODELS:
        errors["equipment_models"] = [f"List at most {MAX_MODELS} equipment models."]
    site_id = values.get("site_id")
    if site_id is not None and db.session.scalar(select(Site.id).where(Site.id == site_id)) is None:
        errors["site_id"] = ["No such site."]
    return errors


def _normalised(data: dict) -> dict:
    values = dict(data)
    for key, limit in (("part_number", 80), ("manufacturer", 120), ("manufacturer_part_number", 80),
                       ("category", 80), ("dimensions", 200), ("location", 120)):
        if key in values:
            values[key] = _clean_text(values[key], limit)
    if "description" in values:
        values["description"] = (values.get("description") or "").strip()[:4000]
    if "notes" in values:
        values["notes"] = _clean_text(values["notes"], 4000)
    if "equipment_models" in values:
        values["equipment_models"] = _models(values["equipment_models"])
    if "currency" in values and values["currency"]:
        values["currency"] = str(values["currency"]).strip().upper()
    return values


# ---------------------------------------------------------------- writing

def create_part(*, quantity: int = 0, commit: bool = True, **data) -> SparePart:
    from . import listings

    values = {"condition": "new", "currency": "CNY", "min_stock": 0, "equipment_models": [], "description": "",
              **_normalised(data), "quantity": quantity}
    if values.get("site_id") is None:
        only = db.session.scalars(select(Site.id).limit(2)).all()
        values["site_id"] = only[0] if len(only) == 1 else None  # a one-site company: that site
    errors = _validate(values)
    if errors:
        raise ValidationFailed(errors=errors)
    part = SparePart(**{k: values.get(k) for k in PART_FIELDS}, quantity=0)
    part.part_number_norm = normalise_code(part.part_number)
    part.min_stock = part.min_stock or 0
    db.session.add(part)
    db.session.flush()
    if quantity:
        move_stock(part, quantity, "initial", commit=False)
    audit.record("spares.part_created", target=part, target_type="spare_part", part_number=part.part_number)
    listings.part_changed(part)
    if commit:
        db.session.commit()
    return part


def update_part(part: SparePart, *, commit: bool = True, **data) -> SparePart:
    from . import listings

    data = _normalised(data)
    quantity = data.pop("quantity", None)
    values = {k: getattr(part, k) for k in PART_FIELDS}
    values.update({k: v for k, v in data.items() if k in PART_FIELDS})
    values["quantity"] = quantity
    errors = _validate(values)
    if errors:
        raise ValidationFailed(errors=errors)
    for key in PART_FIELDS:
        if key in data:
            setattr(part, key, values[key])
    part.part_number_norm = normalise_code(part.part_number)
    part.min_stock = part.min_stock or 0
    if quantity is not None and quantity != part.quantity:
        move_stock(part, quantity - part.quantity, "adjust", note="quantity corrected", commit=False)
    listings.part_changed(part)
    if commit:
        db.session.commit()
    return part


def delete_part(part: SparePart) -> None:
    from . import listings

    open_requests = db.session.scalar(select(func.count()).select_from(SpareRequest).where(
        SpareRequest.listing_id == part.id, SpareRequest.tenant_id == part.tenant_id,
        SpareRequest.status.not_in(("completed", "declined", "cancelled"))))
    if open_requests:
        raise Conflict("Requests for this part are open; finish or decline them first")
    listings.part_removed(part)
    audit.record("spares.part_deleted", target=part, target_type="spare_part", part_number=part.part_number)
    db.session.delete(part)
    db.session.commit()


def move_stock(part: SparePart, delta: int, reason: str, *, note: str | None = None, request_id=None,
               commit: bool = True) -> SpareStockMove:
    """Change a part's quantity by `delta` and record why. The shared
    quantity of its listing never exceeds what is held."""
    from . import listings, wanted

    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
        raise ValidationFailed(errors={"delta": ["Enter a change other than zero."]})
    # Lock the row (after writing what is pending): concurrent moves must not lose one another.
    db.session.flush()
    db.session.refresh(part, with_for_update=True)
    if part.quantity + delta < 0:
        raise Conflict(f"Only {part.quantity} in stock")
    before = part.quantity
    part.quantity += delta
    move = SpareStockMove(part_id=part.id, delta=delta, quantity_after=part.quantity, reason=reason[:30],
                          note=(note or None) and note[:300], request_id=request_id,
                          user_id=tenancy.current().user_id)
    db.session.add(move)
    listings.quantity_changed(part)
    wanted.check_minimum(part, before)
    if commit:
        db.session.commit()
    return move


def moves_query(part: SparePart):
    return select(SpareStockMove).where(SpareStockMove.part_id == part.id)


# ---------------------------------------------------------------- alternates

def alternates_query(part: SparePart):
    return select(SpareAlternate).where(SpareAlternate.part_id == part.id)


def get_alternate(alternate_id) -> SpareAlternate:
    return get_or_404(SpareAlternate, alternate_id, "No such alternate")


def add_alternate(part: SparePart, *, part_number: str, manufacturer: str | None = None,
                  note: str | None = None) -> SpareAlternate:
    """List an interchangeable part (same function, other maker or number)."""
    from . import listings

    number = _clean_text(part_number, 80)
    norm = normalise_code(number)
    manufacturer = _clean_text(manufacturer, 120)
    errors: dict[str, list[str]] = {}
    if not norm:
        errors["part_number"] = ["Enter the part number."]
    elif norm == part.part_number_norm and (manufacturer or "").lower() == (part.manufacturer or "").lower():
        errors["part_number"] = ["That is the part itself."]
    elif db.session.scalar(select(SpareAlternate.id).where(
            SpareAlternate.part_id == part.id, SpareAlternate.part_number_norm == norm,
            func.lower(func.coalesce(SpareAlternate.manufacturer, "")) == (manufacturer or "").lower())):
        errors["part_number"] = ["This alternate is listed already."]
    if errors:
        raise ValidationFailed(errors=errors)
    alt = SpareAlternate(part_id=part.id, part_number=number, part_number_norm=norm, manufacturer=manufacturer,
                         note=_clean_text(note, 300))
    db.session.add(alt)
    listings.reindex(part.id)
    db.session.commit()
    return alt


def remove_alternate(alt: SpareAlternate) -> None:
    from . import listings

    db.session.delete(alt)
    listings.reindex(alt.part_id)
    db.session.commit()


# ---------------------------------------------------------------- site locations

def set_site_location(site: Site, *, region: str | None, latitude, longitude) -> Site:
    from . import listings

    errors: dict[str, list[str]] = {}
    region = _clean_text(region, 80)
    if (latitude is None) != (longitude is None):
        errors["latitude"] = ["Enter both latitude and longitude, or neither."]
    if latitude is not None and not (isinstance(latitude, (int, float)) and math.isfinite(latitude)
                                     and -90 <= latitude <= 90):
        errors["latitude"] = ["Latitude is between -90 and 90."]
    if longitude is not None and not (isinstance(longitude, (int, float)) and math.isfinite(longitude)
                                      and -180 <= longitude <= 180):
        errors["longitude"] = ["Longitude is between -180 and 180."]
    if errors:
        raise ValidationFailed(errors=errors)
    site = identity.update_site(site, region=region, latitude=latitude, longitude=longitude)
    listings.site_changed(site)
    db.session.commit()
    return site


# ---------------------------------------------------------------- import

HEADERS = {
    "part_number": ("part_number", "part number", "part no", "part no.", "pn", "零件号", "备件号", "物料号", "件号"),
    "manufacturer": ("manufacturer", "maker", "brand", "制造商", "厂家", "品牌"),
    "manufacturer_part_number": ("manufacturer_part_number", "manufacturer part number", "mpn", "制造商零件号",
                                 "原厂件号"),
    "description": ("description", "desc", "name", "描述", "名称", "说明"),
    "category": ("category", "类别", "分类"),
    "equipment_models": ("equipment_models", "equipment models", "compatible equipment", "适用设备", "设备型号"),
    "dimensions": ("dimensions", "size", "尺寸", "规格"),
    "condition": ("condition", "状态", "新旧"),
    "quantity": ("quantity", "qty", "数量", "库存"),
    "location": ("location", "bin", "库位", "位置"),
    "min_stock": ("min_stock", "minimum stock", "min", "最低库存", "安全库存"),
    "unit_price": ("unit_price", "unit price", "price", "单价", "价格"),
    "currency": ("currency", "币种"),
    "site": ("site", "site code", "厂区", "厂区代码"),
}
_HEADER_INDEX = {alias: key for key, aliases in HEADERS.items() for alias in aliases}
CONDITION_WORDS = {"new": "new", "新": "new", "全新": "new", "refurbished": "refurbished", "翻新": "refurbished",
                   "修复": "refurbished", "used": "used", "旧": "used", "二手": "used", "旧件": "used"}


def read_table(filename: str, data: bytes) -> list[dict]:
    """Rows of a CSV or Excel (.xlsx) file as {field: raw value}."""
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        import openpyxl

        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # a broken or disguised file
            raise ValidationFailed(errors={"file": ["The file is not a readable Excel workbook."]}) from exc
        sheet = book.worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        book.close()
        if not rows:
            return []
        header, body = rows[0], rows[1:]
    elif name.endswith(".csv") or name.endswith(".txt"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError as exc:
                raise ValidationFailed(errors={"file": ["Save the CSV file as UTF-8."]}) from exc
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error as exc:
            raise ValidationFailed(errors={"file": ["The file is not a readable CSV file."]}) from exc
        if not rows:
            return []
        header, body = rows[0], rows[1:]
    else:
        raise ValidationFailed(errors={"file": ["Upload a .csv or .xlsx file."]})
    keys = [_HEADER_INDEX.get(str(h or "").strip().lower()) for h in header]
    if "part_number" not in keys:
        raise ValidationFailed(errors={"file": ["The first row must name the columns; one must be part_number."]})
    found = []
    for raw in body:
        if raw is None or all(v in (None, "") for v in raw):
            continue
        found.append({k: v for k, v in zip(keys, raw) if k})
    return found


def _int_cell(value, errors: list[str], label: str):
    if value in (None, ""):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        errors.append(f"{label}: enter a whole number.")
        return None
    if not math.isfinite(number) or number != int(number) or number < 0:
        errors.append(f"{label}: enter a whole number, zero or more.")
        return None
    return int(number)


def _price_cell(value, errors: list[str]):
    if value in (None, ""):
        return None
    try:
        price = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        errors.append("unit_price: enter a price.")
        return None
    if not price.is_finite() or price < 0 or price >= 10**12:
        errors.append("unit_price: enter a price, zero or more.")
        return None
    return price.quantize(Decimal("0.01"))


def import_rows(rows: list[dict]) -> dict:
    """Create or update parts from rows; all or nothing. A row matches an
    existing part by part number, manufacturer, condition and site; its
    quantity then becomes the row's (a stock move records the difference)."""
    if len(rows) > MAX_IMPORT_ROWS:
        raise ValidationFailed(errors={"file": [f"Import at most {MAX_IMPORT_ROWS} rows at a time."]})
    if not rows:
        raise ValidationFailed(errors={"file": ["The file has no rows to import."]})
    site_codes = {s.code.upper(): s.id for s in sites()}
    errors: dict[str, list[str]] = {}
    parsed = []
    for number, row in enumerate(rows, start=2):
        row_errors: list[str] = []
        condition_raw = str(row.get("condition") or "new").strip().lower()
        condition = CONDITION_WORDS.get(condition_raw)
        if condition is None:
            row_errors.append("condition: use new, refurbished or used.")
        site_id = None
        if row.get("site") not in (None, ""):
            site_id = site_codes.get(str(row["site"]).strip().upper())
            if site_id is None:
                row_errors.append(f"site: no site has the code {str(row['site']).strip()[:40]}.")
        values = _normalised({
            "part_number": row.get("part_number"), "manufacturer": row.get("manufacturer"),
            "manufacturer_part_number": row.get("manufacturer_part_number"),
            "description": row.get("description"), "category": row.get("category"),
            "equipment_models": row.get("equipment_models"), "dimensions": row.get("dimensions"),
            "location": row.get("location"), "currency": row.get("currency") or "CNY", "notes": None,
        })
        values.update(condition=condition or "new", site_id=site_id,
                      quantity=_int_cell(row.get("quantity"), row_errors, "quantity"),
                      min_stock=_int_cell(row.get("min_stock"), row_errors, "min_stock"),
                      unit_price=_price_cell(row.get("unit_price"), row_errors))
        for key, messages in _validate({**values, "min_stock": values["min_stock"] or 0}).items():
            if key not in ("condition", "site_id", "quantity", "min_stock", "unit_price"):
                row_errors += [f"{key}: {m}" for m in messages]
        if row_errors:
            errors[f"row {number}"] = row_errors
        parsed.append(values)
    if errors:
        raise ValidationFailed("Nothing was imported: fix these rows and import the file again", errors=errors)
    created = updated = 0
    for values in parsed:
        quantity = values.pop("quantity")
        existing = _match(values)
        if existing is None:
            create_part(quantity=quantity or 0, commit=False, **values)
            created += 1
        else:
            if values["min_stock"] is None:
                values.pop("min_stock")
            update_part(existing, quantity=quantity, commit=False, **values)
            updated += 1
    audit.record("spares.imported", target_type="spare_part", created=created, updated=updated)
    db.session.commit()
    return {"created": created, "updated": updated}


def _match(values: dict) -> SparePart | None:
    manufacturer = (values.get("manufacturer") or "").lower()
    return db.session.scalar(select(SparePart).where(
        SparePart.part_number_norm == normalise_code(values["part_number"]),
        func.lower(func.coalesce(SparePart.manufacturer, "")) == manufacturer,
        SparePart.condition == values["condition"],
        SparePart.site_id.is_(None) if values.get("site_id") is None else SparePart.site_id == values["site_id"],
    ).order_by(SparePart.created_at).limit(1))


def import_file(filename: str, data: bytes) -> dict:
    return import_rows(read_table(filename, data))
