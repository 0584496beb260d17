"""The API client as one page uses it: the answers to calls a page made are dropped when they arrive after the page
was deleted (the admin moved on, the window closed), instead of reaching widgets that no longer exist."""

from __future__ import annotations

from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject

from gui.client.api import ApiClient


class OwnedApi:
    """Passes everything through to `api`; the `on_...` callbacks of its calls run only while `owner` lives."""

    def __init__(self, api: ApiClient, owner: QObject) -> None:
        self.client = api
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            for key, value in list(kwargs.items()):
                if key.startswith("on_") and callable(value):
                    kwargs[key] = self._guarded(value)
            return attribute(*args, **kwargs)

        return call

    def _guarded(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        owner = self._owner

        def guarded(*args, **kwargs):
            if shiboken6.isValid(owner):
                return callback(*args, **kwargs)
            return None

        return guarded
