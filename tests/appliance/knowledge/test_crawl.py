"""The crawler against a real site on loopback: links, budget, robots.txt, redirects, sitemaps, TLS, address rules."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import ssl

import pytest

from appliance.keys import certificates
from appliance.knowledge.crawl import CrawlError, CrawlPolicy, crawl, crawl_sitemap, fetch_page
from tests.appliance.knowledge.web_server import Route, Site, running_site

NOW = dt.datetime.now(dt.timezone.utc)
LOOPBACK = frozenset({"127.0.0.1"})  # "localhost" stays off the list: it plays the other site the crawler must avoid


@pytest.fixture
def site():
    with running_site() as running:
        yield running


@pytest.fixture
def policy() -> CrawlPolicy:
    return CrawlPolicy(allowed_hosts=LOOPBACK, allow_private_addresses=True, max_page_bytes=4096, timeout_seconds=5)


@pytest.fixture
def lookups(monkeypatch):
    """Record every host name resolved; names ending in .test resolve as `fake` says, the rest as usual."""
    real = socket.getaddrinfo
    seen: list[str] = []
    fake: dict[str, list[str]] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        seen.append(host)
        if str(host).endswith(".test"):
            address = fake[host].pop(0) if len(fake[host]) > 1 else fake[host][0]
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return seen, fake


def _urls(site: Site, *paths: str) -> list[str]:
    return [site.url + path for path in paths]


def _hosts_asked(site: Site) -> set[str]:
    return {request.host.rsplit(":", 1)[0] for request in site.requests}


def test_crawl_follows_links_breadth_first_within_the_allowed_host(site, policy):
    pages = list(crawl(site.url + "/", policy))

    assert [p.url for p in pages] == _urls(site, "/", "/about", "/docs/guide", "/landing", "/docs/notes.txt")
    assert pages[0].title_hint == "Home" and pages[0].media_type == "text/html" and pages[0].status == 200
    assert pages[-1].media_type == "text/plain" and pages[-1].body == b"Plain notes."


def test_crawl_never_asks_for_the_same_url_twice(site, policy):
    list(crawl(site.url + "/", policy))

    assert len(site.paths()) == len(set(site.paths()))
    assert site.paths().count("/robots.txt") == 1


def test_crawl_stops_at_the_page_budget(site, policy):
    budget = CrawlPolicy(allowed_hosts=LOOPBACK, allow_private_addresses=True, page_budget=2)

    pages = list(crawl(site.url + "/", budget))

    assert [p.url for p in pages] == _urls(site, "/", "/about")
    assert [path for path in site.paths() if path != "/robots.txt"] == ["/", "/about"]


def test_crawl_keeps_out_of_paths_robots_txt_disallows(site, policy):
    list(crawl(site.url + "/", policy))

    assert "/private/secret" not in site.paths()


def test_a_start_url_robots_txt_disallows_is_refused(site, policy):
    with pytest.raises(CrawlError, match="robots.txt"):
        list(crawl(site.url + "/private/secret", policy, follow_links=False))
    assert site.paths() == ["/robots.txt"]


def test_robots_txt_failing_with_a_server_error_closes_the_site(site, policy, caplog):
    site.routes["/robots.txt"] = Route(b"oops", "text/plain", status=503)

    with pytest.raises(CrawlError, match="robots.txt"):
        list(crawl(site.url + "/", policy))
    assert site.paths() == ["/robots.txt"]
    assert "HTTP 503" in caplog.text


def test_a_missing_robots_txt_allows_every_path(site, policy):
    del site.routes["/robots.txt"]

    pages = list(crawl(site.url + "/private/secret", policy, follow_links=False))

    assert [p.title_hint for p in pages] == ["Secret"]


def test_follow_links_false_fetches_only_the_start_url(site, policy):
    pages = list(crawl(site.url + "/", policy, follow_links=False))

    assert [p.url for p in pages] == [site.url + "/"]
    assert site.paths() == ["/robots.txt", "/"]


def test_links_to_other_hosts_are_not_followed(site, policy):
    list(crawl(site.url + "/", policy))

    assert _hosts_asked(site) == {"127.0.0.1"}
    assert "/elsewhere" not in site.paths()


def test_a_redirect_to_an_allowed_page_is_followed(site, policy):
    page = fetch_page(site.url + "/moved", policy)

    assert (page.url, page.title_hint) == (site.url + "/landing", "Landing")


def test_a_redirect_to_another_host_is_skipped_with_a_warning_not_an_error(site, policy, caplog):
    with caplog.at_level(logging.WARNING, logger="appliance.knowledge.crawl"):
        pages = list(crawl(site.url + "/", policy))

    assert site.url + "/landing" in [p.url for p in pages]
    assert "/moved-away redirects to http://localhost" in caplog.text
    assert _hosts_asked(site) == {"127.0.0.1"}


def test_a_start_url_redirecting_to_another_host_is_refused(site, policy):
    with pytest.raises(CrawlError, match="not among the hosts"):
        fetch_page(site.url + "/moved-away", policy)
    assert _hosts_asked(site) == {"127.0.0.1"}


def test_a_redirect_loop_ends_after_five_hops(site, policy):
    site.routes["/loop"] = Route(status=301, location="/loop?again")
    site.routes["/loop?again"] = Route(status=301, location="/loop")

    with pytest.raises(CrawlError, match="more than 5 times"):
        fetch_page(site.url + "/loop", policy)
    assert len(site.paths()) == 6


def test_an_oversized_page_is_skipped(site, policy, caplog):
    with pytest.raises(CrawlError, match="larger than 4096 bytes"):
        fetch_page(site.url + "/huge", policy)
    assert "/huge" not in [p.url for p in crawl(site.url + "/", policy)]
    assert "/huge is larger than" in caplog.text


def test_a_page_declaring_an_oversized_length_is_refused_before_reading(site, policy):
    site.routes["/declared"] = Route(b"x" * 5000, "text/plain")

    with pytest.raises(CrawlError, match="larger than"):
        fetch_page(site.url + "/declared", policy)


def test_an_unsupported_media_type_is_skipped(site, policy, caplog):
    with pytest.raises(CrawlError, match="image/png"):
        fetch_page(site.url + "/photo", policy)
    assert "/photo" not in [p.url for p in crawl(site.url + "/", policy)]


def test_links_named_like_files_are_not_even_requested(site, policy):
    list(crawl(site.url + "/", policy))

    assert "/logo.png" not in site.paths()


def test_a_start_url_answering_not_found_is_refused(site, policy):
    with pytest.raises(CrawlError, match="HTTP 404"):
        list(crawl(site.url + "/nowhere", policy))


def test_an_unreachable_start_url_is_refused(policy):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(CrawlError, match="cannot fetch"):
        fetch_page(f"http://127.0.0.1:{port}/", policy)


def test_a_sitemap_index_is_followed_to_the_pages_it_lists(site, policy):
    pages = list(crawl_sitemap(site.url + "/sitemap-index.xml", policy))

    assert [p.url for p in pages] == _urls(site, "/about", "/docs/guide")
    assert "/private/secret" not in site.paths() and "/photo" not in site.paths()
    assert _hosts_asked(site) == {"127.0.0.1"}


def test_a_sitemap_stops_at_the_page_budget(site):
    budget = CrawlPolicy(allowed_hosts=LOOPBACK, allow_private_addresses=True, page_budget=1)

    assert [p.url for p in crawl_sitemap(site.url + "/sitemap-index.xml", budget)] == [site.url + "/about"]


def test_a_sitemap_index_nested_too_deep_is_not_followed(site, policy, caplog):
    for depth in range(1, 5):
        site.routes[f"/index-{depth}.xml"] = Route(
            f"<sitemapindex><sitemap><loc>/index-{depth + 1}.xml</loc></sitemap></sitemapindex>".encode(), "text/xml"
        )

    assert list(crawl_sitemap(site.url + "/index-1.xml", policy)) == []
    assert "/index-3.xml" in site.paths() and "/index-4.xml" not in site.paths()
    assert "at most 3 deep" in caplog.text


def test_a_sitemap_with_a_doctype_is_refused(site, policy):
    with pytest.raises(CrawlError, match="DOCTYPE"):
        list(crawl_sitemap(site.url + "/doctype-sitemap.xml", policy))
    assert "/about" not in "".join(site.paths())


def test_loopback_is_refused_without_connecting_unless_private_addresses_are_allowed(site):
    strict = CrawlPolicy(allowed_hosts=LOOPBACK)

    with pytest.raises(CrawlError, match="loopback"):
        fetch_page(site.url + "/", strict)
    with pytest.raises(CrawlError, match="loopback"):
        list(crawl(site.url + "/", strict))
    assert site.requests == []


@pytest.mark.parametrize("allow_private", [False, True])
def test_a_name_resolving_to_the_metadata_address_is_refused(lookups, allow_private):
    _seen, fake = lookups
    fake["metadata.test"] = ["169.254.169.254"]
    policy = CrawlPolicy(allowed_hosts=frozenset({"metadata.test"}), allow_private_addresses=allow_private)

    with pytest.raises(CrawlError, match="169.254.169.254"):
        fetch_page("http://metadata.test/latest/meta-data/", policy)


def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected_to(site, lookups):
    seen, fake = lookups
    fake["rebind.test"] = ["127.0.0.1", "203.0.113.9"]  # a rebinding DNS server answers differently the second time
    policy = CrawlPolicy(allowed_hosts=frozenset({"rebind.test"}), allow_private_addresses=True)

    pages = list(crawl(f"http://rebind.test:{site.port}/", policy, follow_links=False))

    assert [p.title_hint for p in pages] == ["Home"]
    assert seen == ["rebind.test"]
    assert [r.host for r in site.requests] == [f"rebind.test:{site.port}"] * 2


def test_a_host_not_allowed_is_refused_before_any_lookup_or_connection(site, lookups):
    seen, _fake = lookups
    policy = CrawlPolicy(allowed_hosts=frozenset({"docs.example.com"}), allow_private_addresses=True)

    with pytest.raises(CrawlError, match="not among the hosts"):
        fetch_page(site.url + "/", policy)
    with pytest.raises(CrawlError, match="not among the hosts"):
        crawl_sitemap(site.url + "/sitemap-index.xml", policy)
    assert seen == [] and site.requests == []


def test_an_empty_allow_list_refuses_every_host_and_says_who_can_change_it():
    with pytest.raises(CrawlError, match="crawl_allowed_hosts"):
        fetch_page("https://docs.example.com/", CrawlPolicy(allowed_hosts=frozenset()))


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "file:///etc/passwd", "http://admin:secret@127.0.0.1/",
                                 "javascript:alert(1)", "http:///nohost"])
def test_addresses_that_are_not_plain_web_pages_are_refused(site, policy, url):
    with pytest.raises(CrawlError) as refused:
        crawl(url, policy)
    assert "secret" not in str(refused.value)
    assert site.requests == []


def test_a_wildcard_allows_subdomains_but_not_the_bare_domain():
    policy = CrawlPolicy(allowed_hosts=frozenset({"*.Example.com", "intranet"}))

    assert policy.allows_host("docs.example.com") and policy.allows_host("a.b.example.com")
    assert policy.allows_host("INTRANET")
    assert not policy.allows_host("example.com") and not policy.allows_host("badexample.com")


def test_the_policy_comes_from_the_settings(settings):
    configured = settings.replace(crawl_allowed_hosts=" Docs.Example.com, *.example.org ,", crawl_page_budget=7,
                                  crawl_allow_private_addresses=True, max_upload_bytes=1234)

    policy = CrawlPolicy.from_settings(configured)

    assert policy.allowed_hosts == {"docs.example.com", "*.example.org"}
    assert (policy.page_budget, policy.allow_private_addresses, policy.max_page_bytes) == (7, True, 1234)


@pytest.fixture(scope="module")
def ca() -> certificates.IssuedCertificate:
    return certificates.issue_ca(appliance_id="crawl-test", now=NOW)


def _tls_site(tmp_path, ca: certificates.IssuedCertificate, names: list[str]):
    """The small site over TLS with a certificate from `ca` for `names`; the CA is written to tmp_path/ca.crt."""
    server = certificates.issue_server(ca, names=names, now=NOW)
    (tmp_path / "server.crt").write_bytes(server.cert_pem)
    (tmp_path / "server.key").write_bytes(server.key_pem)
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    return running_site(tls=context)


def test_https_pages_are_verified_against_the_given_ca(tmp_path, ca, policy):
    with _tls_site(tmp_path, ca, ["127.0.0.1"]) as site:
        pages = list(crawl(site.url + "/", policy, ca_file=tmp_path / "ca.crt"))

    assert [p.url for p in pages] == _urls(site, "/", "/about", "/docs/guide", "/landing", "/docs/notes.txt")


def test_https_is_refused_when_no_trusted_ca_vouches_for_the_site(tmp_path, ca, policy):
    with _tls_site(tmp_path, ca, ["127.0.0.1"]) as site:
        with pytest.raises(CrawlError, match="certificate"):
            fetch_page(site.url + "/", policy)
        assert site.requests == []


def test_https_is_refused_when_the_certificate_names_another_host(tmp_path, ca, policy):
    with _tls_site(tmp_path, ca, ["intranet.example"]) as site:
        with pytest.raises(CrawlError, match="certificate"):
            fetch_page(site.url + "/", policy, ca_file=tmp_path / "ca.crt")
        assert site.requests == []
