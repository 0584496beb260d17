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
    me,
    retention,
    users,
    workspaces,
)


def register(app: Flask) -> None:
    for module in (auth, me, workspaces, knowledge, conversations, api_keys, users, audit, exports, jobs, retention,
                   backups):
        app.register_blueprint(module.blueprint, url_prefix="/api/v1")
