"""Data export: a company's members and audit log as CSV. Every export is
itself recorded in the audit log, as the security guide asks."""
from __future__ import annotations

import csv
import io

from flask import Response
from flask.views import MethodView
from sqlalchemy import select

from . import audit, permissions as perms
from .api import Blueprint, api
from .auth import requires
from .db import db
from .identity import services as identity
from .identity.models import Membership
from .identity.schemas import AuditFilterSchema

DATA_EXPORT = perms.register("data.export", "Export the company's data")
MAX_ROWS = 100_000

blp = Blueprint("exports_api", __name__, url_prefix="/api/v1/exports", description="CSV exports")

_CSV_DOC = {"200": {"description": "CSV file", "content": {"text/csv": {"schema": {"type": "string"}}}}}


def _csv_response(filename: str, header: list[str], rows) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    # A BOM so that Excel, which most plants open CSV files with, reads UTF-8 Chinese names.
    body = "\ufeff" + buffer.getvalue()
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def members_rows() -> tuple[list[str], list[list]]:
    memberships = db.session.scalars(identity.members_query().order_by(Membership.created_at).limit(MAX_ROWS)).unique()
    rows = [[m.user.name, m.user.email, " ".join(r.key for r in m.roles), m.status, m.created_at.isoformat()]
            for m in memberships]
    return ["name", "email", "roles", "status", "member_since"], rows


def audit_rows(**filters) -> tuple[list[str], list[list]]:
    stmt = audit.query(**filters).order_by(audit.AuditEntry.at.desc()).limit(MAX_ROWS)
    rows = [[e.at.isoformat(), e.action, e.actor_label or "", e.target_type or "", e.target_id or "",
             e.ip or "", e.details] for e in db.session.scalars(stmt)]
    return ["at", "action", "actor", "target_type", "target_id", "ip", "details"], rows


def export(kind: str, **filters) -> Response:
    header, rows = members_rows() if kind == "members" else audit_rows(**filters)
    audit.record("data.exported", target_type="export", target_id=kind, rows=len(rows), filters=filters)
    db.session.commit()
    return _csv_response(f"{kind}.csv", header, rows)


@blp.route("/members.csv")
class MembersExport(MethodView):
    @requires(DATA_EXPORT)
    @blp.doc(responses=_CSV_DOC)
    def get(self):
        """Members of the company as CSV"""
        return export("members")


@blp.route("/audit.csv")
class AuditExport(MethodView):
    @requires(DATA_EXPORT)
    @blp.arguments(AuditFilterSchema, location="query", as_kwargs=True)
    @blp.doc(responses=_CSV_DOC)
    def get(self, **filters):
        """The audit log as CSV, with the same filters as the list"""
        return export("audit", **filters)


def init_app(app) -> None:
    api.register_blueprint(blp)
