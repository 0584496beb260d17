"""The widget in headless Chromium (Debian's, driven by Playwright) on host pages of other origins, against a real
appliance over HTTPS. Screenshots go to var/test-screenshots/."""

from __future__ import annotations

import base64
import hashlib
import http.server
import re
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import sync_playwright

from tests.running import free_port
from tests.server.demo_appliance import start_demo

CHROMIUM = "/usr/bin/chromium"
ROOT = "document.querySelector('[data-chatspark-widget], chatspark-widget').shadowRoot"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "test-screenshots"
HOSTILE_CSS = """
* { all: unset; }
html { font-size: 48px; } body { font-size: 60px; line-height: 5; font-family: "Comic Sans MS", cursive; }
div, button, input, textarea, span, p, a, form, label { color: red !important; background: yellow;
  border: 10px solid green; padding: 30px; margin: 20px; }
button { width: 400px; height: 300px; transform: rotate(3deg); }
"""


def host_page(snippet: str, *, title: str, style: str = "") -> bytes:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style></head>"
            f"<body><h1>{title}</h1><p>An intranet page on another origin.</p>{snippet}</body></html>").encode()


class HostPages(http.server.ThreadingHTTPServer):
    """A loopback web server of another origin, serving host pages from memory."""

    def __init__(self, pages: dict[str, bytes]) -> None:
        self.pages = pages
        super().__init__(("127.0.0.1", free_port()), _HostHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _HostHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the standard library's name)
        body = self.server.pages.get(self.path.split("?")[0])
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args):
        pass


def spki_pin(cert_file: Path) -> str:
    """Chromium's --ignore-certificate-errors-spki-list form of the appliance's server key: trust it alone."""
    certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    spki = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    appliance = start_demo(tmp_path_factory.mktemp("widget-browser"))
    snippet = (f'<script src="{appliance.appliance_origin}/widget.js" data-agent="{appliance.public_id}" '
               "defer></script>")
    appliance.allowed_host = HostPages({"/plain.html": host_page(snippet, title="Plain host page"),
                                        "/hostile.html": host_page(snippet, title="Hostile host page",
                                                                   style=HOSTILE_CSS)})
    appliance.elsewhere = HostPages({"/plain.html": host_page(snippet, title="Not an allowed origin")})
    token = appliance.login()
    base = f"/api/v1/workspaces/{appliance.workspace_id}/agents/{appliance.agent_id}"
    status, agent = appliance.running.api("GET", base, token=token)
    origins = agent["agent"]["allowed_origins"] + [appliance.allowed_host.origin]
    status, _ = appliance.running.api("PATCH", base, {"allowed_origins": origins}, token=token)
    assert status == 200
    appliance.admin_token = token
    yield appliance
    for server in (appliance.allowed_host, appliance.elsewhere):
        server.shutdown()
        server.server_close()
    appliance.running.stop()


@pytest.fixture(scope="module")
def browser(demo):
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync", "--disable-quic",
            f"--ignore-certificate-errors-spki-list={spki_pin(demo.running.data_dir / 'tls' / 'server.crt')}"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.console_messages = []
    page.on("console", lambda message: page.console_messages.append(message.text))
    page.page_errors = []
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))
    yield page
    assert page.page_errors == []
    context.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def open_chat(page, url: str):
    page.goto(url)
    launcher = page.locator("button.cs-launcher")
    launcher.wait_for(state="visible", timeout=15_000)
    launcher.click()
    page.locator("textarea.cs-input").wait_for(state="visible")
    return page


def send(page, text: str) -> None:
    before = page.locator(".cs-msg.cs-agent").count()
    page.locator("textarea.cs-input").fill(text)
    page.locator("textarea.cs-input").press("Enter")
    page.wait_for_function(f"n => {ROOT}.querySelectorAll('.cs-msg.cs-agent').length > n "
                           f"&& !{ROOT}.querySelector('.cs-typing')", arg=before, timeout=15_000)


def last_reply(page):
    return page.locator(".cs-msg.cs-agent").last


def test_visitor_asks_from_the_demo_page_and_sees_the_answer_with_its_source(demo, page):
    open_chat(page, f"{demo.site_origin}/")
    assert page.locator(".cs-panel").get_attribute("role") == "dialog"
    assert "Ask me about working at Northwind" in page.locator(".cs-log").inner_text()
    page.locator("button.cs-suggestion", has_text="Where do visitors park?").click()
    page.wait_for_function(f"() => {ROOT}.querySelectorAll('.cs-msg.cs-agent .cs-sources').length > 0",
                           timeout=15_000)
    reply = last_reply(page)
    assert "B1" in reply.locator(".cs-text").inner_text()
    assert reply.locator(".cs-sources li").all_inner_texts() == ["Northwind Traders employee handbook › Office"]
    assert page.locator(".cs-log").get_attribute("aria-live") == "polite"
    shot(page, "01-demo-page-answer")


def test_unknown_question_falls_back_to_the_lead_form_and_the_lead_reaches_the_admin_api(demo, page):
    open_chat(page, f"{demo.site_origin}/it.html")
    send(page, "What is the capital of Mongolia?")
    assert "not sure" in last_reply(page).locator(".cs-text").inner_text()
    form = page.locator("form.cs-lead")
    form.wait_for(state="visible")
    shot(page, "02-fallback-lead-form")
    form.locator("[name=name]").fill("Jane Visitor")
    form.locator("[name=email]").fill("not-an-address")
    form.locator("input[name=consent]").check()
    form.locator("button.cs-lead-submit").click()
    page.get_by_text("enter an email address like name@example.com").wait_for()
    assert form.locator("[name=email]").get_attribute("aria-invalid") == "true"
    shot(page, "03-lead-form-error")
    form.locator("[name=email]").fill("jane.visitor@example.com")
    form.locator("button.cs-lead-submit").click()
    page.get_by_text("Thank you! Someone will get back to you soon.").wait_for()
    shot(page, "04-lead-sent")

    status, leads = demo.running.api("GET", f"/api/v1/workspaces/{demo.workspace_id}/leads?q=jane.visitor",
                                     token=demo.admin_token)
    assert status == 200, leads
    [lead] = leads["leads"]
    assert lead["name"] == "Jane Visitor" and lead["email"] == "jane.visitor@example.com"
    assert lead["consent"]["version"] == 1 and lead["consent"]["text"].startswith("I agree")
    assert lead["page_url"] == f"{demo.site_origin}/it.html" and lead["origin"] == demo.site_origin


def test_reload_and_navigation_keep_the_conversation(demo, page):
    open_chat(page, f"{demo.site_origin}/")
    send(page, "How do I reach the IT help desk?")
    assert "4400" in last_reply(page).inner_text()
    page.reload()
    page.locator(".cs-msg.cs-visitor", has_text="How do I reach the IT help desk?").wait_for(timeout=15_000)
    assert "4400" in last_reply(page).inner_text()
    shot(page, "05-after-reload")
    page.goto(f"{demo.site_origin}/it.html")
    page.locator(".cs-msg.cs-visitor", has_text="How do I reach the IT help desk?").wait_for(timeout=15_000)

    page.locator("button.cs-restart").click()
    page.wait_for_function(f"() => {ROOT}.querySelectorAll('.cs-msg.cs-visitor').length === 0", timeout=15_000)
    page.reload()
    page.locator("button.cs-launcher").wait_for(state="visible")
    assert page.locator(".cs-msg.cs-visitor").count() == 0


def test_thumbs_are_saved_and_shown_again_after_reload(demo, page):
    open_chat(page, f"{demo.site_origin}/")
    send(page, "How many days of leave do I get?")
    with page.expect_response(lambda response: response.url.endswith("/feedback")) as saved:
        last_reply(page).locator("button.cs-up").click()
    assert saved.value.status == 200
    assert last_reply(page).locator("button.cs-up").get_attribute("aria-pressed") == "true"
    page.reload()
    page.locator(".cs-msg.cs-agent button.cs-up[aria-pressed=true]").wait_for(timeout=15_000)


def test_html_typed_as_a_message_shows_as_text_and_runs_nothing(demo, page):
    open_chat(page, f"{demo.site_origin}/")
    payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    send(page, payload)
    visitor = page.locator(".cs-msg.cs-visitor").last
    assert visitor.locator(".cs-text").inner_text() == payload
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate(f"() => {ROOT}.querySelectorAll('img, script').length") == 0
    shot(page, "06-html-as-text")


def test_a_page_on_an_origin_the_agent_does_not_allow_gets_no_chat(demo, page):
    page.goto(f"{demo.elsewhere.origin}/plain.html")
    page.wait_for_function("() => window.performance.getEntriesByType('resource')"
                           ".some(e => e.name.includes('/session'))", timeout=15_000)
    page.wait_for_timeout(500)
    assert page.locator("button.cs-launcher").count() == 0
    assert any("not available" in text for text in page.console_messages)
    shot(page, "07-not-allowed-origin")


def test_hostile_host_css_neither_breaks_the_widget_nor_is_touched_by_it(demo, page):
    page.goto(f"{demo.allowed_host.origin}/hostile.html")
    launcher = page.locator("button.cs-launcher")
    launcher.wait_for(state="visible", timeout=15_000)
    box = launcher.bounding_box()
    assert 40 <= box["width"] <= 72 and 40 <= box["height"] <= 72
    assert box["x"] + box["width"] > 1280 - 60 and box["y"] + box["height"] > 800 - 60  # bottom-right corner
    heading_before = page.evaluate("() => getComputedStyle(document.querySelector('h1')).fontSize")
    launcher.click()
    panel = page.locator(".cs-panel")
    panel.wait_for(state="visible")
    panel_box = panel.bounding_box()
    assert 320 <= panel_box["width"] <= 420 and panel_box["height"] <= 800
    font = page.evaluate(f"() => getComputedStyle({ROOT}.querySelector('textarea.cs-input')).fontSize")
    assert 13 <= float(font.rstrip("px")) <= 18
    send(page, "Where do visitors park?")
    assert "B1" in last_reply(page).inner_text()
    assert page.evaluate("() => getComputedStyle(document.querySelector('h1')).fontSize") == heading_before
    shot(page, "08-hostile-css")


def test_keyboard_opens_answers_and_closes_with_focus_where_it_belongs(demo, page):
    page.goto(f"{demo.site_origin}/")
    launcher = page.locator("button.cs-launcher")
    launcher.wait_for(state="visible", timeout=15_000)
    launcher.focus()
    page.keyboard.press("Enter")
    focused = f"() => ({ROOT}.activeElement?.className || '')"
    page.wait_for_function(f"{focused}.includes('cs-input')")
    assert launcher.get_attribute("aria-expanded") == "true"
    page.keyboard.type("Where do visitors park?")
    page.keyboard.press("Enter")
    page.locator(".cs-msg.cs-agent .cs-sources").first.wait_for(timeout=15_000)
    page.keyboard.press("Escape")
    page.locator(".cs-panel").wait_for(state="hidden")
    page.wait_for_function(f"{focused}.includes('cs-launcher')")
    assert launcher.get_attribute("aria-expanded") == "false"


def test_phone_sized_viewport_gets_a_full_screen_chat(demo, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        open_chat(page, f"{demo.site_origin}/")
        box = page.locator(".cs-panel").bounding_box()
        assert box["width"] >= 385 and box["height"] >= 800
        send(page, "Where do visitors park?")
        shot(page, "09-phone")
    finally:
        context.close()


def test_widget_script_is_small_and_never_builds_html_from_strings():
    script = (Path(__file__).resolve().parents[2] / "server" / "static" / "widget" / "widget.js").read_text()
    assert len(script.encode()) < 40 * 1024
    assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", script)


def test_only_http_and_https_addresses_become_links_in_a_reply_and_its_sources(demo, page):
    """Whatever a reply's JSON says (the server sends no such thing now), the widget links only http(s) URLs."""
    hostile = ["javascript:alert(1)", "JAVASCRIPT:alert(2)", " javascript:alert(3)", "data:text/html,<b>x</b>",
               "vbscript:msgbox(1)", "handbook.md", "//evil.example/x", "file:///etc/passwd", ""]

    def tamper(route):
        sent = route.request.post_data_json
        message = {"role": "agent", "answered": True, "offer_lead_form": False, "feedback": None,
                   "created_at": "2026-11-29T12:00:00Z"}
        body = {"visitor_message": {**message, "id": 900, "role": "visitor", "text": sent["text"], "sources": [],
                                    "answered": None},
                "reply": {**message, "id": 901,
                          "text": ("See [the guide](javascript:alert(4)), [the page](https://docs.example/guide) "
                                   "and data:text/html,hi or http://docs.example/plain."),
                          "sources": [{"title": "Crawled page", "url": "https://docs.example/ok", "heading_path": ""}]
                          + [{"title": f"Source {n}", "url": url, "heading_path": ""}
                             for n, url in enumerate(hostile)]}}
        route.fulfill(status=200, json=body, headers={"Access-Control-Allow-Origin": demo.site_origin})

    page.route("**/widget/v1/agents/*/messages", tamper)
    open_chat(page, f"{demo.site_origin}/")
    send(page, "Where do visitors park?")

    reply = last_reply(page)
    sources = reply.locator(".cs-sources li")
    assert sources.count() == 1 + len(hostile)
    assert [a.get_attribute("href") for a in reply.locator(".cs-sources a").all()] == ["https://docs.example/ok"]
    assert [a.get_attribute("href") for a in reply.locator(".cs-text a").all()] == [
        "https://docs.example/guide", "http://docs.example/plain"]
    assert page.evaluate(f"() => [...{ROOT}.querySelectorAll('a')].every(a => /^https?:$/.test(a.protocol))")
    assert all(a.get_attribute("rel") == "noopener noreferrer" for a in reply.locator("a").all())
