"""The Training data screen's web page form on an appliance whose operator allowed two sites to be crawled: it names
the hosts, warns of another before sending, and the appliance still decides (it takes the source, then refuses to
fetch a page of another host)."""

from __future__ import annotations

import pytest

from gui.views.source_dialogs import UrlDialog
from tests.gui.driving import WAIT_MS, new_workspace, open_dialog, signed_in_window, start_served
from tests.gui.sources_driving import INDEXED_MS, listed_sources, settled_sources, sources_page, status_shown

CRAWLABLE = "wiki.example.com, Intranet.example.com"  # as an operator might type the setting


@pytest.fixture(scope="module")
def crawling(tmp_path_factory, relay):
    """An appliance whose operator allowed two sites to be crawled."""
    served = start_served(tmp_path_factory.mktemp("crawling-appliance"), relay,
                          env={"CHATSPARK_CRAWL_ALLOWED_HOSTS": CRAWLABLE})
    yield served
    served.running.stop()


def test_the_web_page_form_names_the_hosts_that_may_be_crawled_and_warns_of_another(qtbot, tmp_path, crawling):
    workspace = new_workspace(crawling, "Hosts")["id"]
    window = signed_in_window(qtbot, tmp_path, crawling)
    page = sources_page(qtbot, window, workspace)

    page.add_url_action()
    dialog = open_dialog(qtbot, page, UrlDialog)
    assert dialog.allowed.text().startswith("This appliance may crawl: intranet.example.com, wiki.example.com.")
    assert dialog.url.placeholderText() == "https://intranet.example.com/help/returns"
    dialog.url.setText("https://WIKI.example.com:8443/handbook")
    assert not dialog.warning.isVisibleTo(dialog)
    dialog.url.setText("https://www.example.org/help")
    assert dialog.warning.isVisibleTo(dialog)
    assert dialog.warning.text().startswith("www.example.org is not among the hosts this appliance may crawl")

    dialog.submit.click()  # the appliance still decides: it takes the source, then refuses to fetch the page
    qtbot.waitUntil(lambda: bool(settled_sources(crawling, workspace, 1)), timeout=INDEXED_MS)
    [source] = listed_sources(crawling, workspace)
    assert (source["kind"], source["url"], source["status"]) == ("url", "https://www.example.org/help", "failed")
    assert "www.example.org is not among the hosts the appliance may crawl" in source["error"]
    qtbot.waitUntil(lambda: [s["status"] for s in page.sources.records()] == ["failed"], timeout=WAIT_MS)
    assert status_shown(page, source["title"]).startswith("failed: www.example.org is not among the hosts")
