"""Who may use the operator admin: AlloyHub's own staff (`User.is_platform_staff`).

Staff is not a permission: a permission would be granted to every company's
owner through the "*" of the owner role. The endpoint declares
`authenticated` (so the endpoint-permission check sees a declaration) and
this adds the staff check. To anyone else the operator area does not exist:
404, the same answer as for any object one may not see.
"""
from __future__ import annotations

import functools

from .. import permissions as perms
from ..auth import current_principal, requires
from ..db import db
from ..errors import NotFound
from ..identity.models import User


def is_staff() -> bool:
    principal = current_principal()
    if principal is None or principal.user_id is None or principal.via != "session":
        return False  # tokens never act as the operator
    user = db.session.get(User, principal.user_id)
    return bool(user and user.is_platform_staff)


def requires_staff(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not is_staff():
            raise NotFound()
        return fn(*args, **kwargs)

    return requires(perms.AUTHENTICATED)(wrapper)
