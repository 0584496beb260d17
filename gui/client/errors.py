"""What went wrong with a call, in words an administrator understands, and which field caused it."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass

# The appliance names the field first: "name: must be ...", "'email' is not ...", "policy/leads_days: ...".
_FIELD = re.compile(r"^'?(?P<field>[A-Za-z_][\w/]*)'?(?::| is | must | has )")


@dataclass(eq=False)
class ApiError(Exception):
    status: int          # HTTP status, or 0 when no answer came back
    code: str            # the appliance's error code
    message: str         # the appliance's message, or the panel's own
    retry_after: int | None = None
    named_field: str | None = None  # set by the screen when the appliance's words do not name the field
    role: str | None = None  # on a 403: the caller's role the appliance found (newer than the panel's, maybe)

    def __str__(self) -> str:
        return self.message

    @classmethod
    def from_response(cls, status: int, body: bytes, headers: dict[str, str]) -> "ApiError":
        try:
            decoded = json.loads(body) if body else {}
        except ValueError:
            decoded = {}
        if not isinstance(decoded, dict):
            decoded = {}
        retry = headers.get("retry-after")
        role = decoded.get("role")
        return cls(status, decoded.get("error", "http_error"),
                   decoded.get("message") or f"the appliance answered HTTP {status}",
                   int(retry) if retry and retry.isdigit() else None, role=role if isinstance(role, str) else None)

    @classmethod
    def unreachable(cls, detail: str) -> "ApiError":
        return cls(0, "unreachable", f"The appliance cannot be reached: {detail}")

    @classmethod
    def refused_pin(cls, detail: str) -> "ApiError":
        return cls(0, "pin_refused", detail)

    @classmethod
    def signed_out(cls) -> "ApiError":
        return cls(401, "signed_out", "Sign in again to continue.")

    def on_field(self, name: str) -> "ApiError":
        """The same error, shown under the form's field `name` ("a workspace name is required" under Name)."""
        return dataclasses.replace(self, named_field=name)

    @property
    def field(self) -> str | None:
        """The request field the error is about: the one a screen named, or the one the appliance's message names
        first (a 400)."""
        if self.named_field:
            return self.named_field
        if self.status != 400:
            return None
        match = _FIELD.match(self.message)
        return match.group("field").split("/")[-1] if match else None

    def explain(self, *, role: str | None = None) -> str:
        """The message as the panel shows it: what happened, and what to do. `role` is the caller's role as the
        screen knows it; the one the appliance named in a 403 wins (it may have changed meanwhile)."""
        role = self.role or role
        if self.status == 403 and role:
            return f"Your role, {role}, cannot do this. {self.message[:1].upper()}{self.message[1:]}"
        if self.status == 409 and self.code == "workspace_read_only":
            return "This workspace is cancelled and read-only. Undo the cancellation (Workspaces) to change it."
        if self.status == 429:
            wait = f" Try again in {self.retry_after} s." if self.retry_after else " Try again in a minute."
            return f"{self.message[:1].upper()}{self.message[1:]}.{wait}".replace("..", ".")
        if self.status in (507, 503) and self.code in ("disk_full", "storage_unwritable"):
            return f"The appliance could not save this: {self.message}"
        return self.message[:1].upper() + self.message[1:] if self.message else "Something went wrong."
