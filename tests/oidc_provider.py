"""A real OpenID Connect provider for the tests (oidc-provider-mock), run in a process of its own on loopback as an
IdP runs beside the appliance, and what a test does to it: set a user's claims; follow its redirects by hand."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

from tests.running import free_port


@contextlib.contextmanager
def running_provider(folder: Path) -> Iterator[str]:
    """The provider's issuer URL while it runs (it requires a nonce, as the appliance always sends one)."""
    port = free_port()
    log = (folder / "idp.log").open("w")
    process = subprocess.Popen([sys.executable, "-W", "ignore", "-m", "oidc_provider_mock", "--port", str(port),
                                "--require-nonce", "true"], stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=2):
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the provider did not start"
                time.sleep(0.1)
        yield issuer
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def set_user(idp: str, email: str, **claims) -> None:
    request = urllib.request.Request(f"{idp}/users/{urllib.parse.quote(email)}", method="PUT",
                                     data=json.dumps({"email": email, "email_verified": True, **claims}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 204


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
