"""The REST API (`/api/v1`), one blueprint per area."""

from flask import Flask

from server.api import (
    api_keys,
    audit,
    auth,
    backups,
    conversations,
    exports,
    jobs,
    knowledge,
    mail,
    me,
    metrics_tokens,
    overview,
    reports,
    retention,
    sso,
    users,
    workspaces,
)

# The areas in the order the OpenAPI document lists them; each module holds one blueprint.
AREAS = (auth, me, overview, workspaces, knowledge, conversations, api_keys, users, audit, exports, jobs, retention,
         backups, mail, metrics_tokens, reports, sso)


def register(app: Flask) -> None:
    for module in AREAS:
        app.register_blueprint(module.blueprint, url_prefix="/api/v1")
