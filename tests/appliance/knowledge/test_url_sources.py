"""URL and sitemap sources indexed through the crawler, from a real site on loopback."""

from __future__ import annotations

from appliance.knowledge.crawl import CrawlPolicy
from appliance.knowledge.extract import Limits
from appliance.knowledge.search import search
from appliance.knowledge.service import Knowledge
from tests.appliance.knowledge.web_server import Route, running_site

PAGE = ("<html><head><title>Opening hours</title></head><body><nav>Menu Home About</nav><main><h1>Opening hours</h1>"
        "<p>The service desk is open from 8:00 to 17:00 on weekdays.</p></main></body></html>").encode()


def knowledge(appliance, clock, *, hosts: frozenset[str], private: bool) -> Knowledge:
    policy = CrawlPolicy(allowed_hosts=hosts, page_budget=10, allow_private_addresses=private, timeout_seconds=5)
    return Knowledge(files=appliance.workspaces, clock=clock, limits=Limits(), max_workspace_bytes=10**8,
                     crawl_policy=policy)


def test_a_url_source_indexes_the_pages_of_an_allowed_site(appliance, clock):
    appliance.workspaces.create("acme")
    with running_site() as site:
        site.routes.update({"/": Route(PAGE.replace(b"</main>", b'<a href="/hours">more</a></main>')),
                            "/hours": Route(PAGE.replace(b"8:00 to 17:00", b"9:00 to 12:00 on Saturdays and"))})
        service = knowledge(appliance, clock, hosts=frozenset({"127.0.0.1"}), private=True)
        sources = service.sources("acme")
        source = sources.add_url(url=site.url + "/")
        assert service.wait_idle(30)
        service.close()
    ready = sources.get(source.id)
    assert ready.status == "ready" and ready.chunk_count == 2
    [hit, *_] = search(appliance.workspaces.open("acme"), "service desk open Saturdays")
    assert hit.url == site.url + "/hours" and "Menu" not in hit.text


def test_a_url_on_a_host_that_is_not_allowed_fails_with_the_reason(appliance, clock):
    appliance.workspaces.create("acme")
    with running_site() as site:
        service = knowledge(appliance, clock, hosts=frozenset({"intranet.example"}), private=True)
        sources = service.sources("acme")
        source = sources.add_url(url=site.url + "/")
        assert service.wait_idle(30)
        service.close()
        assert site.requests == []
    failed = sources.get(source.id)
    assert failed.status == "failed" and "127.0.0.1" in failed.error


def test_loopback_is_refused_unless_the_operator_allows_private_addresses(appliance, clock):
    appliance.workspaces.create("acme")
    with running_site() as site:
        site.routes["/"] = Route(PAGE)
        service = knowledge(appliance, clock, hosts=frozenset({"127.0.0.1"}), private=False)
        sources = service.sources("acme")
        source = sources.add_url(url=site.url + "/")
        assert service.wait_idle(30)
        service.close()
        assert site.requests == []
    assert sources.get(source.id).status == "failed"
