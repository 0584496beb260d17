"""The crawler's single-request HTTP client: URL rules, one checked DNS lookup, a connection to that very address."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from appliance.errors import ValidationError

DEFAULT_PORTS = {"http": 80, "https": 443}
# Cloud instance metadata services: refused always, even where private addresses are allowed, because they hand out
# the machine's credentials and no customer keeps training content there.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
# A server dripping one byte per read timeout would otherwise hold the crawl for ever.
_WHOLE_RESPONSE_TIMEOUTS = 4
_CHUNK_BYTES = 64 * 1024
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


class CrawlError(ValidationError):
    """A URL the crawler refuses or cannot fetch; the message is a sentence for the person who added the source."""

    code = "crawl_failed"


@dataclass(frozen=True)
class CrawlPolicy:
    allowed_hosts: frozenset[str]
    page_budget: int = 200
    allow_private_addresses: bool = False
    max_page_bytes: int = 10 * 1024 * 1024
    timeout_seconds: float = 15.0
    user_agent: str = "ChatSparkAppliance/0.1 (+crawler of your own sites)"

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_hosts", frozenset(h.strip().lower() for h in self.allowed_hosts if h.strip()))
        if self.page_budget <= 0 or self.max_page_bytes <= 0 or self.timeout_seconds <= 0:
            raise ValueError("page_budget, max_page_bytes and timeout_seconds must be positive")

    @classmethod
    def from_settings(cls, settings: Any) -> "CrawlPolicy":
        return cls(
            allowed_hosts=frozenset(settings.crawl_allowed_hosts.split(",")),
            page_budget=settings.crawl_page_budget,
            allow_private_addresses=settings.crawl_allow_private_addresses,
            max_page_bytes=settings.max_upload_bytes,
        )

    def allows_host(self, host: str) -> bool:
        """Exact names, or `*.example.com` for any subdomain of example.com (not example.com itself)."""
        host = host.lower()
        return host in self.allowed_hosts or any(
            pattern.startswith("*.") and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
            for pattern in self.allowed_hosts
        )


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    media_type: str
    charset: str
    location: str
    body: bytes


def normalise_url(url: str, base: str | None = None) -> str:
    """Absolute http(s) URL with lower-case host, no default port, no fragment, percent-encoded path and query."""
    joined = urljoin(base, url.strip()) if base else url.strip()
    try:
        parts = urlsplit(joined)
        port = parts.port
    except ValueError:
        raise CrawlError(f"{url!r} is not a valid web address") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise CrawlError(f"{url!r} is not an http:// or https:// address; only web pages can be crawled")
    if parts.username is not None or parts.password is not None:
        raise CrawlError(f"{_without_credentials(parts)} carries a user name or password; the crawler fetches only "
                         "public pages, so remove them from the address")
    host = parts.hostname or ""
    try:
        host = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        raise CrawlError(f"{url!r} has a host name that cannot be encoded for DNS") from None
    if not host:
        raise CrawlError(f"{url!r} names no host")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    return urlunsplit((scheme, netloc, path, quote(parts.query, safe=_QUERY_SAFE), ""))


def refuse_unless_allowed(url: str, policy: CrawlPolicy) -> None:
    host = urlsplit(url).hostname or ""
    if not policy.allowed_hosts:
        raise CrawlError("no host is allowed for crawling yet; an operator must list your sites in crawl_allowed_hosts")
    if not policy.allows_host(host):
        raise CrawlError(f"{host} is not among the hosts the appliance may crawl; ask an operator to add it to "
                         "crawl_allowed_hosts if it is one of your sites")


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses an outbound connection other than the crawler's (the answer generator's) may go to."""

    allow_private_addresses: bool = False


def refusal_of(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
               policy: CrawlPolicy | AddressPolicy) -> str | None:
    """Why the appliance must not connect to `address`, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if policy.allow_private_addresses:
        return None
    # RFC 1918 and IPv6 unique-local addresses are allowed on purpose: the customer's intranet sites live there.
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_unspecified or address in _THIS_NETWORK, "an unspecified address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
    )
    return next((reason for refused, reason in checks if refused), None)


Lookup = Callable[[str], list[tuple]]   # host -> getaddrinfo()'s tuples (family, type, proto, name, sockaddr)


def system_lookup(host: str) -> list[tuple]:
    return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)


class Resolver:
    """Resolves each host once and checks every address it gets; what it returns is what gets connected to."""

    def __init__(self, policy: CrawlPolicy | AddressPolicy, *, lookup: Lookup | None = None) -> None:
        self._policy = policy
        self._lookup = lookup or system_lookup
        self._known: dict[str, list[tuple[int, str]] | CrawlError] = {}

    def addresses(self, host: str) -> list[tuple[int, str]]:
        if host not in self._known:
            try:
                self._known[host] = self._resolve(host)
            except CrawlError as exc:
                self._known[host] = exc
        known = self._known[host]
        if isinstance(known, CrawlError):
            raise known
        return known

    def _resolve(self, host: str) -> list[tuple[int, str]]:
        try:
            infos = self._lookup(host)
        except (socket.gaierror, UnicodeError) as exc:
            raise CrawlError(f"the host name {host} could not be resolved ({exc}); check the address") from None
        found: list[tuple[int, str]] = []
        for family, _type, _proto, _name, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            text = str(sockaddr[0])
            reason = refusal_of(ipaddress.ip_address(text.split("%", 1)[0]), self._policy)
            if reason is not None:
                raise CrawlError(f"{host} resolves to {text}, {reason}; the appliance does not connect there")
            if (family, text) not in found:
                found.append((family, text))
        if not found:
            raise CrawlError(f"the host name {host} has no IPv4 or IPv6 address")
        return found


class CheckedAddressConnection(http.client.HTTPConnection):
    """Connects to addresses checked beforehand, never resolving again; TLS speaks (SNI, certificate) to the name."""

    def __init__(self, host_name: str, addresses: list[tuple[int, str]], port: int, *, timeout: float,
                 tls: ssl.SSLContext | None) -> None:
        super().__init__(addresses[0][1], port, timeout=timeout)
        self._host_name, self._addresses, self._tls = host_name, addresses, tls

    def connect(self) -> None:
        failure: OSError | None = None
        for family, address in self._addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect((address, self.port))
            except OSError as exc:
                sock.close()
                failure = exc
                continue
            if self._tls is not None:
                try:
                    sock = self._tls.wrap_socket(sock, server_hostname=self._host_name)
                except BaseException:
                    sock.close()
                    raise
            self.sock = sock
            return
        raise failure or OSError("no address to connect to")


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verifies the certificate and the host name: against the system's CAs, or only `ca_file` if given."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def get(url: str, policy: CrawlPolicy, resolver: Resolver, *, tls: ssl.SSLContext,
        media_types: frozenset[str] | None = None) -> Response:
    """One GET of a normalised URL on an allowed host; redirects are returned, not followed.

    A 2xx body is read only if its media type is in `media_types` (any if None) and it fits in max_page_bytes.
    """
    refuse_unless_allowed(url, policy)
    parts = urlsplit(url)
    host = parts.hostname or ""
    connection = CheckedAddressConnection(
        host, resolver.addresses(host), parts.port or DEFAULT_PORTS[parts.scheme], timeout=policy.timeout_seconds,
        tls=tls if parts.scheme == "https" else None,
    )
    raw: http.client.HTTPResponse | None = None
    try:
        connection.request("GET", urlunsplit(("", "", parts.path, parts.query, "")), headers={
            "Host": parts.netloc, "User-Agent": policy.user_agent, "Accept-Encoding": "identity",
            "Accept": "text/html, application/xhtml+xml, text/plain, text/markdown, application/pdf, */*;q=0.1",
            "Connection": "close",
        })
        raw = connection.getresponse()
        declared_type = raw.getheader("Content-Type")
        media_type = raw.headers.get_content_type() if declared_type else "application/octet-stream"
        charset = raw.headers.get_content_charset() or ""
        body = b""
        if 200 <= raw.status < 300:
            if media_types is not None and media_type not in media_types:
                raise CrawlError(f"{url} is {media_type}, not a kind of page the appliance can learn from; skipped")
            body = _read_capped(raw, url, policy)
        return Response(url, raw.status, media_type, charset, raw.getheader("Location") or "", body)
    except ssl.SSLCertVerificationError as exc:
        raise CrawlError(f"{host} presented a certificate that could not be verified ({exc.verify_message}); if the "
                         "site uses its own certificate authority, give the appliance that CA") from None
    except (TimeoutError, socket.timeout):
        raise CrawlError(f"{host} did not answer within {policy.timeout_seconds:g} seconds; try again later") from None
    except (OSError, http.client.HTTPException) as exc:
        raise CrawlError(f"cannot fetch {url}: {exc or type(exc).__name__}; check that the site is up") from None
    finally:
        if raw is not None:
            raw.close()
        connection.close()


def _read_capped(raw: http.client.HTTPResponse, url: str, policy: CrawlPolicy) -> bytes:
    too_large = CrawlError(f"{url} is larger than {policy.max_page_bytes} bytes, the most the crawler reads; skipped")
    declared = raw.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > policy.max_page_bytes:
        raise too_large
    deadline = time.monotonic() + policy.timeout_seconds * _WHOLE_RESPONSE_TIMEOUTS
    chunks: list[bytes] = []
    received = 0
    while chunk := raw.read(_CHUNK_BYTES):
        received += len(chunk)
        if received > policy.max_page_bytes:
            raise too_large
        if time.monotonic() > deadline:
            raise TimeoutError
        chunks.append(chunk)
    return b"".join(chunks)


def _without_credentials(parts: Any) -> str:
    host = parts.hostname or ""
    return urlunsplit((parts.scheme, host if parts.port is None else f"{host}:{parts.port}", parts.path, "", ""))
