"""Reading JSON request bodies: a clear error for malformed or missing input, nothing half-read."""

from __future__ import annotations

from typing import Any

from flask import request

from appliance.errors import ValidationError


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object (Content-Type: application/json)")
    return data


def text(data: dict[str, Any], name: str, *, required: bool = True, default: str | None = None) -> str | None:
    value = data.get(name, default)
    if value is None:
        if required:
            raise ValidationError(f"'{name}' is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(f"'{name}' must be a string")
    return value
