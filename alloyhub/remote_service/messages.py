"""Display names of the room's codes (states, urgencies, kinds), translated when shown."""
from flask_babel import lazy_gettext as _l

LABELS = {
    # request states
    "open": _l("Open in the directory"), "invited": _l("Invited"), "accepted": _l("In diagnosis"),
    "resolved": _l("Report delivered"), "closed": _l("Closed"), "declined": _l("Declined"),
    "cancelled": _l("Cancelled"),
    # urgencies
    "low": _l("Low"), "normal": _l("Normal"), "high": _l("High"), "critical": _l("Critical"),
    # availability
    "available": _l("Available"), "busy": _l("Busy"), "away": _l("Away"),
    # grant states
    "active": _l("In force"), "scheduled": _l("Scheduled"), "expired": _l("Expired"), "revoked": _l("Revoked"),
    # command states
    "pending_approval": _l("Waiting for approval"), "approved": _l("Approved"), "sent": _l("Sent to the agent"),
    "acked": _l("Done by the agent"), "failed": _l("Failed at the agent"), "rejected": _l("Rejected"),
    # action kinds
    "maintenance": _l("Maintenance work"), "spare_part": _l("Spare part"), "setting": _l("Setting change"),
    "other": _l("Other"),
    # command kinds
    "write": _l("Write a value"), "restart_source": _l("Restart a data source"),
    # billing
    "stripe": _l("Metered (Stripe)"), "offline": _l("Settled offline"),
    # sides
    "plant": _l("Plant"), "expert": _l("Expert"), "candidate": _l("Directory"),
    # reads
    "history": _l("Trend history"), "latest": _l("Latest values"), "live": _l("Live stream"),
    "alarms": _l("Alarm history"), "units": _l("Units and maintenance history"),
}
