"""The one place where errors become HTTP responses: JSON `{"error": code, "message": text}`, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from appliance import errors

log = logging.getLogger(__name__)

# First match wins, so subclasses come before their bases.
STATUS_BY_ERROR: list[tuple[type[errors.ApplianceError], int]] = [
    (errors.InvalidIdentifier, 400),
    (errors.ConfigurationError, 400),
    (errors.ValidationError, 400),
    (errors.InvalidToken, 400),
    (errors.EmailNotVerified, 403),
    (errors.AuthenticationFailed, 401),
    (errors.PermissionDenied, 403),
    (errors.PassageChanged, 410),
    (errors.NotFound, 404),
    (errors.DatabaseMissing, 404),
    (errors.UnknownKey, 404),
    (errors.Conflict, 409),
    (errors.ApplianceExists, 409),
    (errors.TooManyAttempts, 429),
    (errors.MailError, 502),
    (errors.DiskFull, 507),
    (errors.StorageError, 503),
    (errors.ServiceError, 503),
]


# An error says what was wrong in a sentence or two; a longer one can only be quoting input back, so it is cut.
MAX_MESSAGE = 500


def error_response(code: str, message: str, status: int, **extra: str):
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE - 1] + "…"
    response = jsonify(error=code, message=message, **extra)
    response.status_code = status
    return response


def install(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
        response = error_response(code, exc.description or exc.name, exc.code or 500)
        for name in ("Allow", "Retry-After", "Location"):
            if exc.get_response().headers.get(name):
                response.headers[name] = exc.get_response().headers[name]
        return response

    @app.errorhandler(errors.ApplianceError)
    def appliance_error(exc: errors.ApplianceError):
        status = next((s for kind, s in STATUS_BY_ERROR if isinstance(exc, kind)), 500)
        if status >= 500:
            log.error("request failed: %s", exc, extra={"error_code": exc.code})
        role = getattr(exc, "role", None) if isinstance(exc, errors.PermissionDenied) else None
        response = error_response(exc.code, str(exc), status, **({"role": role} if role else {}))
        if isinstance(exc, errors.TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after_seconds)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="chatspark"'
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.exception("unhandled error")
        return error_response("internal_error", "the appliance hit an unexpected error; it has been logged", 500)
