"""`GET /metrics` for Prometheus, behind a metrics token, and the counting of every request it reports: by Flask's
route pattern (never the path itself, whose ids would make a series per workspace), method and status."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g, request

from appliance.errors import AuthenticationFailed
from appliance.monitoring import facts
from appliance.monitoring.metrics import CONTENT_TYPE
from appliance.services import Services
from appliance.settings import Settings
from server.auth import client_address, services

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def metrics():
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise AuthenticationFailed("send a metrics token: Authorization: Bearer csm_... (operators make one at "
                                   "POST /api/v1/metrics-tokens)")
    services().metrics_tokens.authenticate(header[len("Bearer "):].strip(), client_address=client_address())
    response = Response(services().metrics.render(), content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


def install(app: Flask, services_: Services, settings: Settings) -> None:
    app.register_blueprint(blueprint)

    def gathered():
        now = services_.appliance.clock.now()
        return facts.gathered(services_.appliance, settings, jobs=services_.jobs, now=now), now

    services_.metrics.read_facts(gathered)

    @app.after_request
    def count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        started = g.get("started")  # the access log's clock (server/app.py), started before any other hook
        services_.metrics.request(route, request.method, response.status_code,
                                  time.perf_counter() - started if started is not None else 0.0)
        return response


