"""Every JSON request body is checked against its schema in the OpenAPI document before the view sees it, after the
caller's credentials were checked (server/auth.py) and within its route's size limit.

A body is parsed only for a caller who may send it, and only up to what its route needs: anything larger is refused
by its declared length, before a byte of it is read. Messages name the field and the rule it broke, never the value:
an error never echoes input back.
"""

from __future__ import annotations

import re
from typing import Mapping

from flask import Flask, abort, request
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match, relevance
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from appliance.errors import ValidationError
from server.json_bodies import INTEGER_RANGE, where
from server.openapi import document as openapi

_ROOT = "urn:chatspark:openapi"
# Every id the appliance gives out (workspaces, users, agents, sources, keys, jobs...) fits this; anything else in
# an id's place in a path is refused before it reaches a query, and never quoted back.
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
MAX_QUERY_VALUE = 1000
_TYPES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean (true or false)",
          "array": "an array", "object": "an object", "null": "null"}


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


def _branch(error: SchemaError) -> SchemaError | None:
    """For a body that matches none of a union's forms, the error of the form it meant: the one whose fixed fields
    (`kind`: text, qa, url...) it matches; None when it matches no form's fixed fields either."""
    by_branch: dict[int, list[SchemaError]] = {}
    for sub in error.context or []:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    meant = [errors for errors in by_branch.values()
             if not any(e.validator in ("const", "enum") and len(e.relative_path) == 1 for e in errors)]
    return best_match(min(meant, key=len)) if meant else None


def _meant(errors: list[SchemaError]) -> SchemaError:
    """best_match's error, unless it is one form's fixed field (`kind: must be oidc`) of a union whose other form the
    body chose by that field (kind ldap): then the union's, which describe() answers from the form chosen."""
    found = best_match(errors)
    top = max(errors, key=relevance)
    if top.validator in ("oneOf", "anyOf") and found.validator in ("const", "enum") \
            and len(found.path) == len(top.path) + 1 and _chosen_by(top, found.path[-1], found.instance):
        return top
    return found


def _chosen_by(union: SchemaError, name: str, value) -> bool:
    """Whether another of the union's forms has `name` fixed to `value`."""
    for option in union.validator_value:
        fixed = option.get("properties", {}).get(name, {})
        if fixed.get("const", object()) == value or value in fixed.get("enum", ()):
            return True
    return False


def _discriminators(error: SchemaError) -> str | None:
    """`kind: must be one of text, qa, url, sitemap` for a union told apart by one fixed field."""
    choices: dict[str, list] = {}
    for option in error.validator_value:
        for name, schema in option.get("properties", {}).items():
            values = [schema["const"]] if "const" in schema else schema.get("enum")
            if values:
                choices.setdefault(name, []).extend(values)
    if len(choices) != 1:
        return None
    (name, values), = choices.items()
    return f"{where((*error.absolute_path, name))}: must be one of {', '.join(_choice(v) for v in values)}"


def describe(error: SchemaError) -> str:
    """`field: what it must be`, from the schema alone: never the value that broke it."""
    if error.validator in ("oneOf", "anyOf"):
        meant = _branch(error)
        if meant is not None:
            return describe(meant)
        if not error.context:  # it fits several of the forms at once
            return (f"{where(tuple(error.absolute_path))}: holds the fields of more than one of the forms this "
                    "request takes; send the fields of one (see the OpenAPI document)")
        return _discriminators(error) or (f"{where(tuple(error.absolute_path))}: matches none of the forms this "
                                          "request takes (see the OpenAPI document)")
    rule, allowed = error.validator, error.validator_value
    field = where(tuple(error.absolute_path))
    instance = error.instance
    within = f"{field}: " if error.absolute_path else ""
    if rule == "required":
        missing = [name for name in allowed if not isinstance(instance, dict) or name not in instance]
        return f"{within}'{missing[0] if missing else allowed[0]}' is required"
    if rule in ("additionalProperties", "unevaluatedProperties"):
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in known) if isinstance(instance, dict) else []
        name = where((extra[0],)) if extra else "a field"
        return f"{within}'{name}' is not a field here" + (f"; the fields are {', '.join(sorted(known))}"
                                                          if known else "")
    if rule == "type":
        kinds = allowed if isinstance(allowed, list) else [allowed]
        return f"{field}: must be {' or '.join(_TYPES.get(k, k) for k in kinds)}"
    if rule == "enum":
        return f"{field}: must be one of {', '.join(_choice(v) for v in allowed)}"
    if rule == "const":
        return f"{field}: must be {_choice(allowed)}"
    if rule == "minLength":
        return f"{field}: must be at least {allowed} character{'s' if allowed != 1 else ''}"
    if rule == "maxLength":
        return f"{field}: must be at most {allowed} characters"
    if rule == "minimum":
        return f"{field}: must be at least {allowed}"
    if rule == "maximum":
        return f"{field}: must be at most {allowed}"
    if rule == "exclusiveMinimum":
        return f"{field}: must be more than {allowed}"
    if rule == "exclusiveMaximum":
        return f"{field}: must be less than {allowed}"
    if rule == "minItems":
        return f"{field}: must hold at least {allowed} item{'s' if allowed != 1 else ''}"
    if rule == "maxItems":
        return f"{field}: must hold at most {allowed} items"
    if rule == "uniqueItems":
        return f"{field}: must not repeat an item"
    if rule == "pattern":
        return f"{field}: is not in the expected form"
    if rule == "format":
        return f"{field}: must be a valid {allowed}"
    return f"{field}: is not valid here ({rule})"


def _choice(value) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def install(app: Flask, *, max_json_body_bytes: int, limits: Mapping[str, int] | None = None) -> None:
    """Validate JSON bodies; each is at most `max_json_body_bytes`, or the route's own limit in `limits`."""
    validators = _validators()
    limits = dict(limits or {})

    @app.before_request
    def check_the_path_and_query() -> None:
        for name, value in (request.view_args or {}).items():
            # Werkzeug's int converter takes any run of digits; SQLite stores at most a signed 64-bit integer.
            if isinstance(value, int) and not INTEGER_RANGE[0] <= value <= INTEGER_RANGE[1]:
                raise ValidationError(f"{name}: must be a whole number of at most {INTEGER_RANGE[1]}")
            if isinstance(value, str) and name.endswith("_id") and not _ID.fullmatch(value):
                raise ValidationError(f"{name}: is not an id this appliance gives out (letters, digits, '-' and "
                                      "'_', at most 128)")
        for name, value in request.args.items(multi=True):
            if len(value) > MAX_QUERY_VALUE or len(name) > MAX_QUERY_VALUE:
                raise ValidationError(f"{where((name,))}: is longer than {MAX_QUERY_VALUE} characters")

    @app.before_request
    def validate_json_body() -> None:
        endpoint = request.endpoint or ""
        validator = validators.get(endpoint)
        if validator is None:
            return
        limit = limits.get(endpoint, max_json_body_bytes)
        if request.content_length is not None and request.content_length > limit:
            abort(413, description=f"the JSON body is larger than this request's limit of {limit} bytes")
        if len(request.get_data(cache=True)) > limit:  # sent without a length (chunked)
            abort(413, description=f"the JSON body is larger than this request's limit of {limit} bytes")
        data = request.get_json(silent=True)
        if data is None:
            raise ValidationError("the request body must be JSON (Content-Type: application/json)")
        errors = list(validator.iter_errors(data))
        if errors:
            raise ValidationError(describe(_meant(errors)))
