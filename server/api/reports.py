"""Reports for auditors (operators): the compliance evidence, measured at the moment it is asked for."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request

from appliance.errors import ValidationError
from appliance.monitoring import compliance
from appliance.monitoring.compliance_report import render
from server.auth import client_address, operator_required, services
from server.downloads import attachment

blueprint = Blueprint("reports", __name__)


@blueprint.get("/reports/compliance")
@operator_required
def compliance_report():
    """Each promise, its control and live evidence; HTML to keep (or `format=json`); audited."""
    format = request.args.get("format", "html")
    if format not in ("html", "json"):
        raise ValidationError("'format' is html or json")
    svc = services()
    found = compliance.gather(svc.appliance, current_app.extensions["chatspark.settings"], audit=svc.audit)
    svc.audit.record("report.compliance", actor_type="user", actor_id=g.user.id, client_address=client_address(),
                     details={"failed": [c.id for c in found.failed], "controls": len(found.controls)})
    if format == "json":
        return jsonify(generated_at=found.generated_at, appliance_id=found.appliance_id, version=found.version,
                       controls=[c.public() for c in found.controls])
    name = f"chatspark-compliance-{found.generated_at[:10]}.html"
    return Response(render(found), mimetype="text/html",
                    headers={"Content-Disposition": attachment(name), "Cache-Control": "no-store"})
