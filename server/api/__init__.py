"""The REST API (`/api/v1`), one blueprint per area."""

from flask import Flask

from server.api import audit, auth, me, users, workspaces


def register(app: Flask) -> None:
    for module in (auth, me, workspaces, users, audit):
        app.register_blueprint(module.blueprint, url_prefix="/api/v1")
