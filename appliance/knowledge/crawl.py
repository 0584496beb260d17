"""The crawler of URL and sitemap sources: breadth-first over the customer's allowed sites, polite and bounded."""

from __future__ import annotations

import logging
import posixpath
from collections import deque
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser
from xml.parsers import expat

from appliance.knowledge.fetch import (
    CrawlError,
    CrawlPolicy,
    Resolver,
    Response,
    get,
    normalise_url,
    refuse_unless_allowed,
    tls_context,
)

__all__ = ["CrawlError", "CrawlPolicy", "Page", "crawl", "crawl_sitemap", "fetch_page"]

PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain", "text/markdown", "application/pdf"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
SITEMAP_TYPES = frozenset({"application/xml", "text/xml", "text/plain"})
MAX_REDIRECTS = 5
SITEMAP_DEPTH = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Links to these are not pages; skipping them by name saves a request each.
_NOT_PAGES = frozenset(
    ".jpg .jpeg .png .gif .webp .avif .svg .ico .bmp .tif .tiff .css .js .mjs .json .woff .woff2 .ttf .otf .eot "
    ".zip .gz .tgz .bz2 .xz .7z .rar .tar .exe .msi .dmg .pkg .deb .rpm .apk .iso .bin .mp3 .mp4 .m4a .m4v .wav "
    ".ogg .oga .ogv .flac .avi .mov .mkv .webm .wmv .doc .docx .xls .xlsx .ppt .pptx .odt .ods .odp .rss .atom".split()
)

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    url: str
    status: int
    media_type: str
    body: bytes
    title_hint: str = ""


def fetch_page(url: str, policy: CrawlPolicy, *, ca_file: Path | None = None) -> Page:
    """One page, following redirects within the allowed hosts; robots.txt is the crawler's business, not this one's."""
    page, _links = _Session(policy, ca_file, obey_robots=False).fetch(_start_url(url, policy))
    return page


def crawl(url: str, policy: CrawlPolicy, *, follow_links: bool = True, ca_file: Path | None = None) -> Iterator[Page]:
    """Pages breadth-first from `url` within the budget; a refused start URL raises here, a refused page is logged."""
    return _crawl(_start_url(url, policy), _Session(policy, ca_file), follow_links)


def crawl_sitemap(url: str, policy: CrawlPolicy, *, ca_file: Path | None = None) -> Iterator[Page]:
    """The pages a sitemap (or a sitemap index, nested up to three deep) lists on the allowed hosts."""
    return _crawl_sitemap(_start_url(url, policy), _Session(policy, ca_file))


def _start_url(url: str, policy: CrawlPolicy) -> str:
    start = normalise_url(url)
    refuse_unless_allowed(start, policy)
    return start


def _crawl(start: str, session: _Session, follow_links: bool) -> Iterator[Page]:
    queue, seen = deque([start]), {start}
    while queue and session.fetched < session.policy.page_budget:
        url = queue.popleft()
        try:
            page, links = session.fetch(url)
        except CrawlError as exc:
            if url == start:
                raise
            _log.warning("crawl from %s: skipped %s: %s", start, url, exc)
            continue
        seen.add(page.url)
        yield page
        if not follow_links:
            return
        for link in links:
            if link not in seen and _worth_following(link, page.url, session.policy):
                seen.add(link)
                queue.append(link)


def _crawl_sitemap(start: str, session: _Session) -> Iterator[Page]:
    sitemaps, seen_sitemaps, seen_pages = deque([(start, 1)]), {start}, set()
    while sitemaps and session.fetched < session.policy.page_budget:
        sitemap, depth = sitemaps.popleft()
        try:
            kind, locations = session.sitemap(sitemap)
        except CrawlError as exc:
            if sitemap == start:
                raise
            _log.warning("sitemap %s: skipped the nested sitemap %s: %s", start, sitemap, exc)
            continue
        for location in locations:
            try:
                target = normalise_url(location, base=sitemap)
                refuse_unless_allowed(target, session.policy)
            except CrawlError as exc:
                _log.warning("sitemap %s: skipped %s: %s", sitemap, location, exc)
                continue
            if kind == "sitemapindex":
                if depth >= SITEMAP_DEPTH:
                    _log.warning("sitemap %s: skipped %s: indexes nest at most %d deep", start, target, SITEMAP_DEPTH)
                elif target not in seen_sitemaps:
                    seen_sitemaps.add(target)
                    sitemaps.append((target, depth + 1))
                continue
            if session.fetched >= session.policy.page_budget:
                return
            if target in seen_pages:
                continue
            seen_pages.add(target)
            try:
                page, _links = session.fetch(target)
            except CrawlError as exc:
                _log.warning("sitemap %s: skipped %s: %s", sitemap, target, exc)
                continue
            yield page


class _Session:
    """What one crawl shares: the resolved addresses, the robots.txt rules per site, the pages fetched so far."""

    def __init__(self, policy: CrawlPolicy, ca_file: Path | None, *, obey_robots: bool = True) -> None:
        self.policy = policy
        self.fetched = 0
        self._obey_robots = obey_robots
        self._resolver = Resolver(policy)
        self._tls = tls_context(ca_file)
        self._robots: dict[str, RobotFileParser] = {}

    def fetch(self, url: str) -> tuple[Page, list[str]]:
        """The page at `url` (counted against the budget) and the links it holds, normalised."""
        response = self._follow(url, PAGE_TYPES, counted=True)
        if not 200 <= response.status < 300:
            raise CrawlError(f"{url} answered HTTP {response.status}; check that the address is right")
        title, links = "", []
        if response.media_type in HTML_TYPES:
            title, links = _read_html(response)
        return Page(response.url, response.status, response.media_type, response.body, title), links

    def sitemap(self, url: str) -> tuple[str, list[str]]:
        response = self._follow(url, SITEMAP_TYPES, counted=False)
        if not 200 <= response.status < 300:
            raise CrawlError(f"the sitemap {url} answered HTTP {response.status}; check that the address is right")
        if response.media_type == "text/plain" and not response.body.lstrip().startswith(b"<"):
            return "urlset", response.body.decode("utf-8", "replace").split()  # the protocol's one-URL-a-line form
        return _sitemap_entries(response.body, url)

    def _follow(self, url: str, media_types: frozenset[str] | None, *, counted: bool,
                robots_file: bool = False) -> Response:
        """GET `url`, following up to MAX_REDIRECTS redirects, each hop checked like the first."""
        hop = url
        for _ in range(MAX_REDIRECTS + 1):
            refuse_unless_allowed(hop, self.policy)
            self._resolver.addresses(urlsplit(hop).hostname or "")  # a refused address outranks robots.txt
            if not robots_file and self._obey_robots and not self._robots_allow(hop):
                raise CrawlError(f"the site's robots.txt asks crawlers to keep out of {hop}; it was not fetched")
            if counted:
                self.fetched, counted = self.fetched + 1, False
            response = get(hop, self.policy, self._resolver, tls=self._tls, media_types=media_types)
            if response.status not in _REDIRECTS:
                return response
            if not response.location:
                raise CrawlError(f"{hop} answered a redirect without saying where to; skipped")
            target = normalise_url(response.location, base=hop)
            if not self.policy.allows_host(urlsplit(target).hostname or ""):
                raise CrawlError(f"{hop} redirects to {target}, whose host is not among the hosts the appliance "
                                 "may crawl; the redirect was not followed")
            hop = target
        raise CrawlError(f"{url} redirects more than {MAX_REDIRECTS} times; it was not followed")

    def _robots_allow(self, url: str) -> bool:
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        if site not in self._robots:
            self._robots[site] = self._read_robots(site)
        return self._robots[site].can_fetch(self.policy.user_agent, url)

    def _read_robots(self, site: str) -> RobotFileParser:
        """Rules per RFC 9309: a 4xx robots.txt allows all; a 5xx or an unreachable one disallows all."""
        rules = RobotFileParser(site + "/robots.txt")
        try:
            response = self._follow(site + "/robots.txt", None, counted=False, robots_file=True)
        except CrawlError as exc:
            _log.warning("robots.txt of %s could not be read, so the site counts as closed to crawlers: %s", site, exc)
            rules.disallow_all = True
            return rules
        if response.status >= 500 or response.status == 429:
            _log.warning("robots.txt of %s answered HTTP %d, so the site counts as closed", site, response.status)
            rules.disallow_all = True
        elif not 200 <= response.status < 300:
            rules.allow_all = True
        else:
            rules.parse(response.body.decode("utf-8", "replace").splitlines())
        return rules


class _HtmlReader(HTMLParser):
    """The <title>, the <base href> and every <a href> of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.base = ""
        self.title_parts: list[str] = []
        self._title_state = "before"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") or ""
        if tag == "a" and href:
            self.hrefs.append(href)
        elif tag == "base" and href and not self.base:
            self.base = href
        elif tag == "title" and self._title_state == "before":
            self._title_state = "inside"

    def handle_endtag(self, tag: str) -> None:
        self._title_state = "after" if tag == "title" and self._title_state == "inside" else self._title_state

    def handle_data(self, data: str) -> None:
        if self._title_state == "inside":
            self.title_parts.append(data)


def _read_html(response: Response) -> tuple[str, list[str]]:
    try:
        text = response.body.decode(response.charset or "utf-8", "replace")
    except LookupError:
        text = response.body.decode("utf-8", "replace")
    reader = _HtmlReader()
    reader.feed(text)
    reader.close()
    base = response.url
    if reader.base:
        try:
            base = normalise_url(reader.base, base=response.url)
        except CrawlError:
            pass  # a <base> that is not a web address leaves links relative to the page, as browsers do
    links = []
    for href in reader.hrefs:
        try:
            links.append(normalise_url(href, base=base))
        except CrawlError:
            continue  # mailto:, javascript:, tel: and broken links are not pages to crawl
    return " ".join("".join(reader.title_parts).split()), links


def _worth_following(link: str, page_url: str, policy: CrawlPolicy) -> bool:
    """On an allowed host, in the scheme of the page that links to it, and not named like a file."""
    parts = urlsplit(link)
    return (parts.scheme == urlsplit(page_url).scheme and policy.allows_host(parts.hostname or "")
            and posixpath.splitext(parts.path)[1].lower() not in _NOT_PAGES)


def _sitemap_entries(body: bytes, url: str) -> tuple[str, list[str]]:
    """The kind ("urlset" or "sitemapindex") and each entry's <loc>; any DTD is refused before it is expanded."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    names: list[str] = []
    roots: list[str] = []
    locations: list[str] = []
    text: list[str] | None = None

    def refuse(*_args: object) -> None:
        raise CrawlError(f"the sitemap {url} declares a DOCTYPE or entities, which sitemaps never need; refused")

    def start(name: str, _attrs: object) -> None:
        nonlocal text
        names.append(name.rpartition("}")[2])
        if len(names) == 1:
            roots.append(names[0])
        # Only <url><loc> and <sitemap><loc>: extensions such as <image:loc> name files, not pages.
        if names[-1] == "loc" and len(names) >= 2 and names[-2] in ("url", "sitemap"):
            text = []

    def end(_name: str) -> None:
        nonlocal text
        if names.pop() == "loc" and text is not None:
            locations.append("".join(text).strip())
            text = None

    def data(chunk: str) -> None:
        if text is not None:
            text.append(chunk)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, data
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise CrawlError(f"the sitemap {url} is not well-formed XML ({exc}); check that the address is right") from None
    if roots[:1] not in (["urlset"], ["sitemapindex"]):
        raise CrawlError(f"{url} is neither a <urlset> nor a <sitemapindex> sitemap; check that the address is right")
    return roots[0], [location for location in locations if location]
