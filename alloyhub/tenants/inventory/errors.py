"""The inventory room's exceptions. Each names a stable problem type; the
message is a template with parameters, so pages can show it translated and
API clients get the parameters (coil_no, …) as fields of the problem."""
from __future__ import annotations

import uuid

from alloyhub.platform.errors import Conflict, NotFound, ValidationFailed


def _plain(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# Parameters that are words of ours (an action, a status), translated with the message.
TRANSLATED_PARAMS = ("action", "coil_status", "shipment_status", "reservation_status", "kind")


class _Templated:
    """`template % params` is the detail; with `field`, also that field's error."""

    def __init__(self, template: str | None = None, *, field: str | None = None, **params):
        detail = (template % params) if template else None
        errors = {field: [detail]} if field and detail else None
        super().__init__(detail, errors=errors, **{k: _plain(v) for k, v in params.items()})  # type: ignore[call-arg]
        self.template = template
        self.params = params

    def translated(self, gettext) -> str:
        if not self.template:
            return gettext(str(self.detail))  # type: ignore[attr-defined]
        params = {k: (gettext(v) if k in TRANSLATED_PARAMS and isinstance(v, str) else v)
                  for k, v in self.params.items()}
        return gettext(self.template) % params


class InventoryConflict(_Templated, Conflict):
    slug, title = "inventory-conflict", "The stock does not allow this"


class CoilUnavailable(_Templated, Conflict):
    """The coil's status does not allow the action (quarantined, consumed, shipped, …)."""

    slug, title = "coil-unavailable", "The coil is not available for this"


class DoubleBooking(_Templated, Conflict):
    """The coil is already reserved, issued or on a shipment for something else."""

    slug, title = "coil-double-booked", "The coil is already booked"


class LocationFull(_Templated, Conflict):
    slug, title = "location-full", "The location is full"


class NegativeStock(_Templated, ValidationFailed):
    slug, title = "negative-stock", "Stock cannot go negative"


class GenealogyCycle(_Templated, ValidationFailed):
    slug, title = "genealogy-cycle", "The genealogy would form a cycle"


class Invalid(_Templated, ValidationFailed):
    """One field's error, with parameters."""


class Missing(_Templated, NotFound):
    pass
