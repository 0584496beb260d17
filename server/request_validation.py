"""Every JSON request body is checked against its schema in the OpenAPI document before the view sees it."""

from __future__ import annotations

from flask import Flask, request
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from appliance.errors import ValidationError
from server.openapi import document as openapi

_ROOT = "urn:chatspark:openapi"


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _validators() -> dict[str, Draft202012Validator]:
    """One validator per endpoint that takes a JSON body, keyed by the Flask endpoint name."""
    document = openapi.document()
    registry = Registry().with_resource(_ROOT, Resource.from_contents(document, default_specification=DRAFT202012))
    validators = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                ref = f"{_ROOT}#/" + _pointer("paths", path, method, "requestBody", "content", "application/json",
                                              "schema")
                validators[operation["operationId"]] = Draft202012Validator({"$ref": ref}, registry=registry)
    return validators


def install(app: Flask) -> None:
    validators = _validators()

    @app.before_request
    def validate_json_body() -> None:
        validator = validators.get(request.endpoint or "")
        if validator is None:
            return
        data = request.get_json(silent=True)
        if data is None:
            raise ValidationError("the request body must be JSON (Content-Type: application/json)")
        error = next(iter(sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the body"
            raise ValidationError(f"{where}: {error.message}")
