"""Drawings, photos, certificates and inspection reports of a part, kept in
the platform's file storage. Shared ones (certificates, inspection reports
and photos by default) go with the listing to the companies that see it;
each download by another company is recorded in the holder's feed.

Upload either through the app (`upload`: the bytes in the request) or, with
S3, straight to the bucket (`start_upload` gives a presigned URL, then
`confirm` checks the object is there)."""
from __future__ import annotations

import mimetypes

from sqlalchemy import select

from alloyhub.platform import audit, storage, tenancy
from alloyhub.platform.db import db
from alloyhub.platform.errors import Conflict, NotFound, ValidationFailed
from alloyhub.platform.sharing import services as sharing

from .models import ATTACHMENT_KINDS, PART_KIND, SpareAttachment, SparePart

MAX_BYTES = 25 * 1024 * 1024
SHARED_BY_DEFAULT = ("certificate", "inspection_report", "photo")
ALLOWED_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/webp", "image/gif", "image/tiff",
                 "image/svg+xml", "application/dxf", "image/vnd.dxf", "application/acad", "image/vnd.dwg",
                 "application/octet-stream", "text/plain", "text/csv",
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 "application/vnd.openxmlformats-officedocument.wordprocessingml.document")


def _validate(kind: str, filename: str, content_type: str, size: int | None) -> dict:
    errors: dict[str, list[str]] = {}
    if kind not in ATTACHMENT_KINDS:
        errors["kind"] = ["Choose drawing, photo, certificate or inspection report."]
    if not (filename or "").strip():
        errors["filename"] = ["Name the file."]
    if content_type not in ALLOWED_TYPES:
        errors["content_type"] = ["Attach a PDF, an image, a drawing or an office document."]
    if size is not None and not 0 < size <= MAX_BYTES:
        errors["size"] = [f"Attach a file of at most {MAX_BYTES // (1024 * 1024)} MB."]
    return errors


def _new(part: SparePart, kind: str, filename: str, content_type: str, size, shared) -> SpareAttachment:
    return SpareAttachment(part_id=part.id, kind=kind, filename=storage.safe_name(filename), content_type=content_type,
                           size=size, storage_key=storage.new_key(part.tenant_id, "spares", filename),
                           shared=kind in SHARED_BY_DEFAULT if shared is None else bool(shared), stored=False,
                           uploaded_by=tenancy.current().user_id)


def upload(part: SparePart, *, kind: str, filename: str, data: bytes, content_type: str | None = None,
           shared: bool | None = None) -> SpareAttachment:
    content_type = content_type or mimetypes.guess_type(filename or "")[0] or "application/octet-stream"
    errors = _validate(kind, filename, content_type, len(data))
    if errors:
        raise ValidationFailed(errors=errors)
    attachment = _new(part, kind, filename, content_type, len(data), shared)
    storage.current().put(attachment.storage_key, data, content_type)
    attachment.stored = True
    db.session.add(attachment)
    audit.record("spares.attachment_added", target=attachment, target_type="spare_attachment", kind=kind)
    db.session.commit()
    return attachment


def start_upload(part: SparePart, *, kind: str, filename: str, content_type: str, size: int | None = None,
                 shared: bool | None = None) -> tuple[SpareAttachment, dict]:
    """Record the attachment and hand out a presigned upload (S3 only)."""
    errors = _validate(kind, filename, content_type, size)
    if errors:
        raise ValidationFailed(errors=errors)
    attachment = _new(part, kind, filename, content_type, size, shared)
    ticket = storage.current().upload_ticket(attachment.storage_key, content_type, size)
    if ticket is None:
        raise Conflict("This installation stores files itself: upload the file in the request")
    db.session.add(attachment)
    db.session.commit()
    return attachment, ticket


def confirm(attachment: SpareAttachment) -> SpareAttachment:
    """The client says the upload is done: check the object is really there."""
    if attachment.stored:
        return attachment
    size = storage.current().size(attachment.storage_key)
    if size is None:
        raise Conflict("The file has not arrived in storage yet")
    if size > MAX_BYTES:
        storage.current().delete(attachment.storage_key)
        raise ValidationFailed(errors={"size": [f"Attach a file of at most {MAX_BYTES // (1024 * 1024)} MB."]})
    attachment.size, attachment.stored = size, True
    audit.record("spares.attachment_added", target=attachment, target_type="spare_attachment", kind=attachment.kind)
    db.session.commit()
    return attachment


def attachments_of(part: SparePart):
    return select(SpareAttachment).where(SpareAttachment.part_id == part.id)


def get_own(attachment_id) -> SpareAttachment:
    found = db.session.scalar(select(SpareAttachment).where(SpareAttachment.id == attachment_id))
    if found is None:
        raise NotFound("No such attachment")
    return found


def get_readable(attachment_id) -> SpareAttachment:
    """One's own attachment, or a stored, shared one of a part shared with
    the company (the download is recorded in the holder's feed)."""
    me = tenancy.current_tenant_id()
    found = db.session.scalar(select(SpareAttachment).where(
        SpareAttachment.id == attachment_id,
        (SpareAttachment.tenant_id == me) | (SpareAttachment.shared.is_(True) & SpareAttachment.stored.is_(True)
                                             & sharing.visible_clause(PART_KIND, SpareAttachment.tenant_id,
                                                                      SpareAttachment.part_id)))
        .execution_options(skip_tenant_filter=True))
    if found is None:
        raise NotFound("No such attachment")
    if found.tenant_id != me:
        sharing.record_read(found.tenant_id, PART_KIND, found.part_id, "downloaded")
        db.session.commit()
    if not found.stored:
        raise Conflict("The file has not arrived in storage yet")
    return found


def set_shared(attachment: SpareAttachment, shared: bool) -> SpareAttachment:
    attachment.shared = bool(shared)
    db.session.commit()
    return attachment


def delete(attachment: SpareAttachment) -> None:
    key = attachment.storage_key
    db.session.delete(attachment)
    audit.record("spares.attachment_deleted", target_type="spare_attachment", target_id=attachment.id)
    db.session.commit()
    try:
        storage.current().delete(key)
    except storage.StorageError:  # the record is gone; an orphaned object is harmless
        pass
