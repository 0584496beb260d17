"""The relying party's checks on ID tokens from a provider served on loopback (discovery and keys over HTTP, as an
IdP on this machine may be): a valid token passes; a tampered one, one signed by a key the provider does not
publish, one for another client or issuer, an expired one, one with the wrong nonce and an unsigned one are refused.
A provider outside loopback must be HTTPS."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from appliance.accounts.oidc import OidcClient, check_issuer
from appliance.errors import AuthenticationFailed, ValidationError

CLIENT = "chatspark-appliance"
NONCE = "n-0S6_WzA2Mj"


@pytest.fixture(scope="module")
def provider():
    """A provider publishing one RSA key: (issuer, its key, the client)."""
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    documents: dict[str, dict] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            found = documents.get(self.path)
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(found or {}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    documents["/.well-known/openid-configuration"] = {
        "issuer": issuer, "authorization_endpoint": f"{issuer}/authorize", "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks"}
    documents["/jwks"] = KeySet([key]).as_dict(private=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield issuer, key, OidcClient(issuer=issuer, client_id=CLIENT, client_secret="s3cret")
    server.shutdown()
    server.server_close()


def token(issuer: str, key, **changes) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "aud": CLIENT, "sub": "u-17", "email": "ann@example.com", "iat": now, "exp": now + 300,
              "nonce": NONCE, **changes}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, {k: v for k, v in claims.items() if v is not None}, key)


def test_a_valid_token_gives_its_claims(provider):
    issuer, key, client = provider
    claims = client.verify(token(issuer, key), nonce=NONCE)
    assert claims["sub"] == "u-17" and claims["email"] == "ann@example.com"


@pytest.mark.parametrize("why", ["tampered", "other key", "other client", "other issuer", "expired", "nonce",
                                 "no nonce", "unsigned"])
def test_a_token_that_fails_a_check_is_refused(provider, why):
    issuer, key, client = provider
    if why == "tampered":
        head, body, signature = token(issuer, key).split(".")
        forged = json.loads(jwt_part(body))
        forged["sub"] = "admin"
        bad = ".".join([head, part_of(forged), signature])
    elif why == "other key":
        bad = token(issuer, RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    elif why == "other client":
        bad = token(issuer, key, aud="another-app")
    elif why == "other issuer":
        bad = token(issuer, key, iss="https://evil.example.com")
    elif why == "expired":
        bad = token(issuer, key, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    elif why == "nonce":
        bad = token(issuer, key, nonce="replayed-from-another-sign-in")
    elif why == "no nonce":
        bad = token(issuer, key, nonce=None)
    else:
        head = part_of({"alg": "none", "typ": "JWT"})
        bad = f"{head}.{part_of({'iss': issuer, 'aud': CLIENT, 'sub': 'x', 'nonce': NONCE})}."
    with pytest.raises(AuthenticationFailed, match="ID token was refused"):
        client.verify(bad, nonce=NONCE)


def test_providers_outside_this_machine_must_use_https():
    assert check_issuer("https://login.example.com/realms/corp/") == "https://login.example.com/realms/corp"
    assert check_issuer("http://localhost:9400") == "http://localhost:9400"
    for bad in ("http://login.example.com", "ftp://x", "login.example.com", ""):
        with pytest.raises(ValidationError):
            check_issuer(bad)


def jwt_part(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def part_of(value: dict) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
