"""The OpenID Connect relying party's protocol: the provider's discovery document and keys, the authorization URL
(authorization code with PKCE S256, state and nonce), the code exchange, and the ID token's checks (signature
against the provider's published keys, issuer, audience, expiry, issue time and nonce). JOSE through joserfc,
Authlib's own successor to authlib.jose; PKCE through Authlib.

Providers are reached over HTTPS only, with their CA configurable for an internal IdP; plain HTTP is accepted for a
loopback address alone (a provider on this machine, as in development and tests)."""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from appliance.errors import AuthenticationFailed, ValidationError

TIMEOUT_SECONDS = 10
LEEWAY_SECONDS = 60          # clock difference tolerated between the provider and the appliance
DISCOVERY_TTL_SECONDS = 3600
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class ProviderUnreachable(AuthenticationFailed):
    code = "sso_provider_unreachable"


def check_issuer(issuer: str) -> str:
    parts = urllib.parse.urlsplit(issuer or "")
    if parts.scheme == "https" and parts.hostname:
        return issuer.rstrip("/")
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return issuer.rstrip("/")
    raise ValidationError("'issuer' is the provider's https:// URL (http:// only for a provider on this machine)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class Request:
    """A sign-in under way: where to send the browser, and what the callback must match."""

    url: str
    state: str
    nonce: str
    code_verifier: str


class OidcClient:
    """One provider, reached with its own CA (or the system's); its discovery document and keys are cached for an
    hour, and the keys fetched again at once when a token names one the cache lacks (the provider rotated)."""

    def __init__(self, *, issuer: str, client_id: str, client_secret: str, ca_file: str | None = None) -> None:
        self.issuer = check_issuer(issuer)
        self.client_id = client_id
        self._secret = client_secret
        self._context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._discovery: tuple[float, Discovery] | None = None
        self._keys: KeySet | None = None

    def discovery(self) -> Discovery:
        if self._discovery is None or time.monotonic() - self._discovery[0] > DISCOVERY_TTL_SECONDS:
            found = self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            if found.get("issuer", "").rstrip("/") != self.issuer:
                raise AuthenticationFailed(f"the provider at {self.issuer} names another issuer "
                                           f"({found.get('issuer')!r}) in its discovery document")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(name), str):
                    raise AuthenticationFailed(f"the provider's discovery document has no {name}")
            self._discovery = (time.monotonic(), Discovery(self.issuer, found["authorization_endpoint"],
                                                           found["token_endpoint"], found["jwks_uri"]))
            self._keys = None
        return self._discovery[1]

    def start(self, redirect_uri: str) -> Request:
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": "openid email profile", "state": state, "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"})
        endpoint = self.discovery().authorization_endpoint
        return Request(f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", state, nonce, verifier)

    def exchange(self, code: str, *, redirect_uri: str, code_verifier: str) -> str:
        """The ID token the provider gives for `code` (client_secret_basic, with the PKCE verifier)."""
        body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                                       "code_verifier": code_verifier}).encode()
        basic = base64.b64encode(f"{urllib.parse.quote(self.client_id, safe='')}:"
                                 f"{urllib.parse.quote(self._secret, safe='')}".encode()).decode()
        answer = self._post_json(self.discovery().token_endpoint, body, {"Authorization": f"Basic {basic}"})
        token = answer.get("id_token")
        if not isinstance(token, str):
            raise AuthenticationFailed(f"the provider gave no ID token: {answer.get('error') or 'no reason given'}")
        return token

    def verify(self, id_token: str, *, nonce: str, now: float | None = None) -> dict:
        """The ID token's claims, once its signature, issuer, audience, expiry and nonce all hold."""
        try:
            token = self._decode(id_token)
            registry = jwt.JWTClaimsRegistry(
                now=int(now) if now is not None else None, leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
                nonce={"essential": True, "value": nonce})
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise AuthenticationFailed(f"the provider's ID token was refused: {exc}") from None
        claims = token.claims
        audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audience) > 1 and claims.get("azp") != self.client_id:
            raise AuthenticationFailed("the provider's ID token was refused: it names other audiences and no azp")
        return claims

    def _decode(self, id_token: str):
        keys = self._key_set()
        try:
            return jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        except JoseError as exc:
            if "key" not in str(exc).lower():
                raise
            self._keys = None  # a key the cache lacks: the provider may have rotated; ask once more
            return jwt.decode(id_token, self._key_set(), algorithms=ALGORITHMS)

    def _key_set(self) -> KeySet:
        if self._keys is None:
            self._keys = KeySet.import_key_set(self._get_json(self.discovery().jwks_uri))
        return self._keys

    def _get_json(self, url: str) -> dict:
        return self._fetch(urllib.request.Request(url, headers={"Accept": "application/json"}))

    def _post_json(self, url: str, body: bytes, headers: dict) -> dict:
        return self._fetch(urllib.request.Request(url, data=body, method="POST", headers={
            "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded", **headers}))

    def _fetch(self, request: urllib.request.Request) -> dict:
        check_issuer(request.full_url)  # every call stays on HTTPS (or this machine's loopback)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=self._context) as response:
                return json.loads(response.read(1 << 20))
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read(1 << 16)).get("error_description") or exc.reason
            except ValueError:
                detail = exc.reason
            raise AuthenticationFailed(f"the provider refused: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ProviderUnreachable(f"cannot reach the sign-in provider at {request.host}: "
                                      f"{getattr(exc, 'reason', exc)}") from None
