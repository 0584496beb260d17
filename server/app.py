"""The Flask application factory: blueprints, error handling, security headers, request logging."""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, abort, g, request

from appliance import logs, resources
from appliance.services import Services
from appliance.settings import Settings
from server import (
    address_limits,
    api,
    auth,
    health,
    http_errors,
    metrics,
    pages,
    request_validation,
    security_headers,
    sso_pages,
    widget,
)
from server.in_memory import InMemoryRequest
from server.json_bodies import StrictJSONProvider
from server.openapi import document as openapi

access_log = logging.getLogger("chatspark.access")
# The JSON routes whose bodies carry training data (pasted text, Q&A pairs): as large as an uploaded file may be.
SOURCE_BODIES = ("knowledge.add_source", "knowledge.edit_source")


def create_app(services: Services, *, settings: Settings, scheduler=None) -> Flask:
    app = Flask(__name__, static_url_path="/static", static_folder=resources.static_dir(),
                template_folder=resources.templates_dir())
    app.request_class = InMemoryRequest
    app.json = StrictJSONProvider(app)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_request_body_bytes,
                      CHATSPARK_OWN_CERTIFICATE=not settings.tls_cert_file,
                      CHATSPARK_MIN_FREE_DISK_BYTES=settings.min_free_disk_bytes)
    app.extensions["chatspark.appliance"] = services.appliance
    app.extensions["chatspark.services"] = services
    app.extensions["chatspark.scheduler"] = scheduler
    app.extensions["chatspark.settings"] = settings
    app.register_blueprint(health.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(sso_pages.blueprint)
    api.register(app)
    widget.install(app, max_request_bytes=settings.widget_max_request_bytes, turns=services.turns)
    app.register_blueprint(openapi.blueprint, url_prefix="/api/v1")
    app.after_request(auth.set_csrf_cookie)
    app.after_request(auth.add_rate_limit_headers)
    http_errors.install(app)
    security_headers.install(app, hsts_max_age=settings.hsts_max_age_seconds)
    _install_access_log(app)
    metrics.install(app, services, settings)
    _refuse_oversized_bodies(app, settings.max_request_body_bytes)
    address_limits.install(app, limit=settings.public_requests_per_minute,
                           failed_credentials_limit=settings.failed_credentials_per_minute)
    # In this order: who is calling, then (for callers who may send it) whether the body fits and is well formed.
    auth.install_credential_check(app, callers=openapi.callers_by_endpoint())
    request_validation.install(app, max_json_body_bytes=settings.max_json_body_bytes,
                               limits={endpoint: settings.max_upload_bytes for endpoint in SOURCE_BODIES})
    return app


def _refuse_oversized_bodies(app: Flask, limit: int) -> None:
    # Caddy enforces the same limit in front; this holds for any route, even one that never reads its body.
    @app.before_request
    def check_declared_length() -> None:
        if request.content_length is not None and request.content_length > limit:
            abort(413, description=f"the request body is larger than the {limit}-byte limit")


def _install_access_log(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()
        # Every line logged while answering names this id, and so does the response (X-Request-Id).
        g.request_id = uuid.uuid4().hex[:16]
        g.request_id_token = logs.REQUEST_ID.set(g.request_id)

    @app.teardown_request
    def forget_request_id(_exc) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            logs.REQUEST_ID.reset(token)

    @app.after_request
    def log_request(response):
        access_log.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={
                "client": request.remote_addr,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1),
            },
        )
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        return response
