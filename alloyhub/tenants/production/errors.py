"""The production room's exceptions. The message is a template with
parameters, so pages show it translated and API clients get the parameters
(number, status, …) as fields of the problem."""
from __future__ import annotations

import uuid

from alloyhub.platform.errors import Conflict, NotFound, ValidationFailed

# Parameters that are words of ours, translated with the message; a work
# order's status in its own context (other rooms' "released" is a reservation's).
TRANSLATED_PARAMS = ("action",)
STATUS_CONTEXT = "work order status"


def _plain(value):
    return str(value) if isinstance(value, uuid.UUID) else value


class _Templated:
    def __init__(self, template: str, *, field: str | None = None, **params):
        detail = template % params
        super().__init__(detail, errors={field: [detail]} if field else None,  # type: ignore[call-arg]
                         **{k: _plain(v) for k, v in params.items()})
        self.template, self.params = template, params

    def translated(self, gettext) -> str:
        from flask_babel import pgettext

        params = {k: (gettext(v) if k in TRANSLATED_PARAMS and isinstance(v, str) else
                      pgettext(STATUS_CONTEXT, v) if k == "wo_status" else v)
                  for k, v in self.params.items()}
        return gettext(self.template) % params


class WrongState(_Templated, Conflict):
    """The work order's status does not allow the action."""

    slug, title = "work-order-state", "The work order's status does not allow this"


class UnitBusy(_Templated, Conflict):
    slug, title = "unit-busy", "The unit is running another work order"


class RoutingOrder(_Templated, Conflict):
    slug, title = "routing-order", "Operations run in routing order"


class LineClosed(_Templated, Conflict):
    slug, title = "order-line-closed", "The order line does not allow this"


class Invalid(_Templated, ValidationFailed):
    """One field's error, with parameters."""


class Missing(_Templated, NotFound):
    pass
