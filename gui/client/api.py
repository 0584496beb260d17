"""The API client: each call runs on a worker thread of a small pool through the pinned HTTPS client, and its result
comes back on the UI thread, to the callbacks the caller gave, so the window never waits for the network.

The session token lives in this object's memory only. When the server says the session is over (a 401 for a call
that carried it, confirmed by /me), the token is dropped, `session_expired` is emitted once, and calls wait for a
new sign-in rather than send a dead token again (every refused credential counts against the address on the
appliance)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from PySide6.QtCore import QObject, Signal

from appliance import __version__
from appliance.errors import ApplianceError, PinMismatch
from appliance.keys.pinning import ClientError, PinnedClient, Response, Transfer, TransferCut
from gui.client.background import Background
from gui.client.errors import ApiError

Done = Callable[[Any], None]
Failed = Callable[[ApiError], None]
Progress = Callable[[int, int], None]  # (bytes sent so far, bytes in all)
UPLOAD_CHUNK = 256 * 1024  # bytes sent between two progress reports of an upload
USER_AGENT = f"ChatSpark control panel {__version__}"  # what My account's sessions list shows for the panel
# Calls that need no session: signing in, and the health checks shown before sign-in.
_PUBLIC = ("/api/v1/auth/login", "/api/v1/auth/password-reset", "/api/v1/sso/buttons", "/api/v1/sso/panel-token",
           "/healthz", "/readyz")


@dataclass
class _Pending:
    on_done: Done | None
    on_error: Failed | None
    authenticated: bool
    keep: QObject | None = None  # what must outlive the call (the carrier of an upload's progress)


class _Unwritten(Exception):
    """A downloaded piece the file it goes to did not take (a full disk)."""


class _SentBytes(QObject):
    """Made on the UI thread, so what the worker sending a body emits here reaches `on_progress` on the UI thread."""

    moved = Signal(object, object)


def _reported(data: bytes, sent: _SentBytes) -> Iterator[bytes]:
    """The body in pieces, each reported once the connection has taken it (http.client sends an iterable body piece
    by piece; the Content-Length header keeps it from being chunked)."""
    view = memoryview(data)
    for start in range(0, len(data), UPLOAD_CHUNK):
        yield view[start:start + UPLOAD_CHUNK]
        sent.moved.emit(min(start + UPLOAD_CHUNK, len(data)), len(data))


class ApiClient(QObject):
    """Calls to one appliance, pinned to its CA; `call` returns at once."""

    session_expired = Signal()
    unreachable = Signal(str)
    reachable = Signal()
    pin_refused = Signal(str)

    def __init__(self, http: PinnedClient, *, background: Background, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._http = http
        self._background = background
        self._token: str | None = None
        self._was_reachable = True
        self._checking_session = False

    @property
    def base_url(self) -> str:
        port = "" if self._http.port == 443 else f":{self._http.port}"
        return f"https://{self._http.host}{port}"

    @property
    def signed_in(self) -> bool:
        return self._token is not None

    def set_token(self, token: str | None) -> None:
        self._token = token

    def call(self, method: str, path: str, body: Any = None, *, on_done: Done | None = None,
             on_error: Failed | None = None, raw: bytes | None = None, content_type: str | None = None,
             accept: str = "application/json", timeout: float | None = None,
             on_progress: Progress | None = None) -> None:
        """Send one request on a worker thread; `on_done(decoded JSON, or bytes for other answers)` or
        `on_error(ApiError)` is called later on the UI thread. `timeout` (seconds) is for calls known to be slow
        (a backup made or verified while the admin waits); others use the client's. `on_progress(sent, total)`,
        for a `raw` body, is called on the UI thread as the body goes out (an upload's progress bar)."""
        authenticated = not path.startswith(_PUBLIC)
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        pending = _Pending(on_done, on_error, authenticated)
        if authenticated:
            if self._token is None:
                self._background.run(ApiError.signed_out, on_done=lambda error: self._settle(pending, error),
                                     on_error=lambda exc: self._settle(pending, exc))
                return
            headers["Authorization"] = f"Bearer {self._token}"
        http = self._http
        sent = None
        if raw is not None and on_progress is not None:
            sent = _SentBytes()
            sent.moved.connect(on_progress)
            pending.keep = sent  # lives until the call is settled, after its last report

        def send() -> Response:
            if raw is not None:
                raw_headers = {**headers, "Content-Type": content_type or "application/octet-stream"}
                if sent is None:
                    return http.request_raw(method, path, raw, headers=raw_headers, timeout=timeout)
                return http.request_raw(method, path, _reported(raw, sent), timeout=timeout,
                                        headers={**raw_headers, "Content-Length": str(len(raw))})
            return http.request(method, path, body=body, headers=headers, timeout=timeout)

        self._background.run(send, on_done=lambda outcome: self._settle(pending, outcome),
                             on_error=lambda exc: self._settle(pending, exc))

    def get(self, path: str, **kwargs: Any) -> int:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> int:
        return self.call("POST", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> int:
        return self.call("PATCH", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> int:
        return self.call("PUT", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> int:
        return self.call("DELETE", path, **kwargs)

    def get_all(self, path: str, key: str, *, on_done: Callable[[list], None], on_error: Failed | None = None,
                limit: int = 500) -> None:
        """Every record of a list the API gives in pages (`key` in each answer), following `next_after` to its end;
        `on_done(records)` once, with all of them."""
        found: list = []
        first = f"{path}{'&' if '?' in path else '?'}limit={limit}"

        def page(after: str | None) -> None:
            self.get(first + (f"&after={after}" if after else ""), on_done=got, on_error=on_error)

        def got(answer: dict) -> None:
            found.extend(answer[key])
            if answer.get("next_after"):
                page(answer["next_after"])
            else:
                on_done(found)

        page(None)

    def download(self, method: str, path: str, body: Any = None, *, target: Path,
                 on_done: Callable[[dict[str, str]], None], on_error: Failed,
                 on_progress: Progress | None = None, timeout: float | None = None) -> Transfer:
        """Stream the answer into the file `target` on a worker thread: written to `target`.part and renamed once
        whole, removed on any failure. `on_progress(received, Content-Length or 0)` and then `on_done(the answer's
        headers)` or `on_error(ApiError)` are called on the UI thread; `cut_off()` on the returned transfer cancels
        it (`on_error` with the code "cancelled")."""
        transfer = Transfer()
        pending = _Pending(None, on_error, True)
        if self._token is None:
            self._background.run(ApiError.signed_out, on_done=lambda error: self._settle(pending, error),
                                 on_error=lambda exc: self._settle(pending, exc))
            return transfer
        headers = {"Accept": "application/octet-stream", "User-Agent": USER_AGENT,
                   "Authorization": f"Bearer {self._token}"}
        received = _SentBytes()  # carries the worker's progress to the UI thread
        if on_progress is not None:
            received.moved.connect(on_progress)
        pending.keep = received
        http, part = self._http, target.with_name(target.name + ".part")

        def fetch() -> Response:
            count = 0

            def write(piece: bytes, total: int | None) -> None:
                nonlocal count
                try:
                    out.write(piece)
                except OSError as exc:  # the disk, not the network: kept apart from the client's own OSErrors
                    raise _Unwritten(exc) from exc
                count += len(piece)
                received.moved.emit(count, total or 0)

            try:
                with part.open("wb") as out:
                    response = http.stream(method, path, body=body, headers=headers, timeout=timeout,
                                           receive=write, transfer=transfer)
                if response.status < 400:
                    part.replace(target)
                else:
                    part.unlink(missing_ok=True)
                return response
            except BaseException:
                part.unlink(missing_ok=True)
                raise

        def settled(outcome: object) -> None:
            pending.keep = None
            if isinstance(outcome, Response) and outcome.status < 400:
                self._reached()
                on_done(outcome.headers)
            elif isinstance(outcome, TransferCut):
                on_error(ApiError(0, outcome.code, "The download was cancelled; nothing was kept."))
            elif isinstance(outcome, (OSError, _Unwritten)):
                on_error(ApiError(0, "unwritable", f"The file {target} could not be written: {outcome}"))
            else:
                self._settle(pending, outcome)

        self._background.run(fetch, on_done=settled, on_error=settled)
        return transfer

    def _settle(self, pending: _Pending, outcome: object) -> None:
        if isinstance(outcome, Response):
            self._reached()
            if outcome.status < 400:
                if pending.on_done is not None:
                    pending.on_done(_decoded(outcome))
                return
            error = ApiError.from_response(outcome.status, outcome.body, outcome.headers)
            if error.status == 401 and pending.authenticated and self._token is not None:
                self._check_session()
        elif isinstance(outcome, ApiError):
            error = outcome
        elif isinstance(outcome, PinMismatch):
            error = ApiError.refused_pin(str(outcome))
            self.pin_refused.emit(str(outcome))
        elif isinstance(outcome, ClientError):
            error = ApiError.unreachable(str(outcome))
            if self._was_reachable:
                self._was_reachable = False
                self.unreachable.emit(str(outcome))
        elif isinstance(outcome, ApplianceError):
            error = ApiError(0, outcome.code, str(outcome))
        else:
            error = ApiError(0, "panel_error", f"the panel could not make this call: {outcome}")
        if pending.on_error is not None:
            pending.on_error(error)

    def _check_session(self) -> None:
        """A 401 means the session ended, or only that a password in the body was wrong (changing the password,
        turning the second factor on): ask /me with the same token, and only if that is refused too is the token
        dropped and `session_expired` emitted."""
        if self._checking_session:
            return
        self._checking_session = True
        token = self._token

        def refused(error: ApiError) -> None:
            self._checking_session = False
            if error.status == 401 and self._token == token:
                self._token = None
                self.session_expired.emit()

        def alive(_answer: object) -> None:
            self._checking_session = False

        self.get("/api/v1/me", on_done=alive, on_error=refused)

    def _reached(self) -> None:
        if not self._was_reachable:
            self._was_reachable = True
            self.reachable.emit()


def _decoded(response: Response) -> Any:
    if not response.body:
        return None
    if response.headers.get("content-type", "").startswith("application/json"):
        return json.loads(response.body)
    return response.body
