"""The widget in headless Chromium (Debian's, driven by Playwright) on host pages of other origins, against a real
appliance over HTTPS. Screenshots go to var/test-screenshots/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from appliance.conversations import leads
from tests.server.demo_appliance import OPERATOR, PASSWORD, start_demo
from tests.server.widget_browser import (
    CHROMIUM,
    HOSTILE_CSS,
    ROOT,
    HostPages,
    host_page,
    last_reply,
    log_order,
    open_chat,
    send,
    shot,
    spki_pin,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    # Every page here chats from 127.0.0.1, one visitor address: the per-visitor limit (tested in test_widget_https.py)
    # would stop this module's conversations long before its end.
    appliance = start_demo(tmp_path_factory.mktemp("widget-browser"),
                           env={"CHATSPARK_WIDGET_MESSAGES_PER_MINUTE": "1000"})
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
    lead_posts = []
    page.on("request", lambda request: lead_posts.append(request) if request.url.endswith("/leads") else None)
    open_chat(page, f"{demo.site_origin}/it.html")
    send(page, "What is the capital of Mongolia?")  # falls back, and offers the form
    form = page.locator("form.cs-lead")
    form.wait_for(state="visible")
    assert log_order(page) == ["w", "v", "a", "f"]  # under the reply that offered it
    shot(page, "02-fallback-lead-form")
    form.locator("[name=email]").fill("not-an-address")
    form.locator("[name=phone]").fill("call me")
    form.locator("[name=question]").click()  # leaving a field checks it, as the server would
    email_error = form.locator("#" + form.locator("[name=email]").get_attribute("id") + "-err")
    assert email_error.inner_text() == "Enter an email address like name@example.com"
    form.locator("button.cs-lead-submit").click()
    assert form.locator("[name=email]").get_attribute("aria-invalid") == "true"
    assert form.locator("[name=phone]").get_attribute("aria-invalid") == "true"
    assert form.locator(".cs-err", has_text="Enter a phone number like +44 20 7946 0958").count() == 1
    assert form.locator(".cs-err", has_text="Tick this box to leave your details").count() == 1
    assert form.locator(".cs-err", has_text="Name is required").count() == 1
    assert lead_posts == []  # told at once, not after a round trip
    shot(page, "03-lead-form-error")

    # What only the server checks (here: a name past 300 characters) shows the same way, under its field.
    form.locator("[name=name]").fill("J" * 301)
    form.locator("[name=email]").fill("jane.visitor@example.com")
    form.locator("[name=phone]").fill("")
    form.locator("input[name=consent]").check()
    form.locator("button.cs-lead-submit").click()
    form.locator(".cs-err", has_text="Name is at most 300 characters").wait_for()
    assert form.locator("[name=name]").get_attribute("aria-invalid") == "true" and len(lead_posts) == 1
    form.locator("[name=name]").fill("Jane Visitor")
    form.locator("button.cs-lead-submit").click()
    page.get_by_text("Thank you! Someone will get back to you soon.").wait_for()
    assert log_order(page) == ["w", "v", "a", "t"] and page.locator("button.cs-handoff").is_hidden()
    shot(page, "04-lead-sent")

    page.reload()
    page.locator(".cs-lead-done", has_text="Thank you! Someone will get back to you soon.").wait_for(timeout=15_000)
    assert log_order(page) == ["w", "v", "a", "t"] and page.locator("form.cs-lead").count() == 0
    assert page.locator("button.cs-handoff").is_hidden()
    shot(page, "04b-lead-sent-after-reload")
    send(page, "Where do visitors park?")
    assert log_order(page) == ["w", "v", "a", "t", "v", "a"]

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


def test_a_page_on_an_origin_the_agent_does_not_allow_gets_no_chat_and_the_console_says_why(demo, page):
    warnings = []
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
    page.goto(f"{demo.elsewhere.origin}/plain.html")
    page.wait_for_function("() => window.performance.getEntriesByType('resource')"
                           ".some(e => e.name.includes('/session'))", timeout=15_000)
    page.wait_for_timeout(500)
    assert page.locator("button.cs-launcher").count() == 0 and page.locator("chatspark-widget").count() == 0
    origin = demo.elsewhere.origin
    assert (f"ChatSpark: agent {demo.public_id} is not available on {origin}. To show it here, add {origin} to "
            "the agent's allowed origins.") in warnings
    visible = page.evaluate("() => document.body.innerText")  # visitors see the host page and nothing more
    assert visible.split() == "Not an allowed origin An intranet page on another origin.".split()
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


def test_a_source_without_a_web_address_opens_its_passage_in_the_chat(demo, page):
    open_chat(page, f"{demo.site_origin}/")
    send(page, "Where do visitors park?")
    cite = last_reply(page).locator(".cs-sources button.cs-cite")
    assert cite.count() == 1 and cite.get_attribute("aria-expanded") == "false"
    with page.expect_response(lambda response: "/sources/" in response.url) as opened:
        cite.click()
    assert opened.value.status == 200 and "token" not in opened.value.url
    assert opened.value.request.headers["authorization"].startswith("Bearer v1.")
    passage = last_reply(page).locator(".cs-passage")
    passage.locator("div").wait_for()
    assert "visitors park on level B1" in passage.inner_text() and cite.get_attribute("aria-expanded") == "true"
    shot(page, "12-cited-passage")
    cite.click()
    assert passage.is_hidden() and cite.get_attribute("aria-expanded") == "false"
    page.reload()  # a restored reply's sources open too
    restored = page.locator(".cs-msg.cs-agent", has_text="B1").last.locator("button.cs-cite")
    restored.wait_for(timeout=15_000)
    restored.click()
    page.locator(".cs-passage", has_text="visitors park on level B1").wait_for()


def test_the_lead_form_stays_where_it_was_offered_and_goes_once_the_visitor_moves_on_untouched(demo, page):
    open_chat(page, f"{demo.site_origin}/")
    send(page, "What is the capital of Mongolia?")
    page.locator("form.cs-lead").wait_for(state="visible")
    assert page.locator("button.cs-handoff").is_hidden()  # the form open below is already the way to a person
    send(page, "Where do visitors park?")
    assert log_order(page) == ["w", "v", "a", "v", "a"]  # untouched, it went; it did not follow the answer
    assert page.locator("button.cs-handoff").is_visible()
    shot(page, "10-untouched-form-gone")

    page.locator("button.cs-handoff").click()
    form = page.locator("form.cs-lead")
    assert log_order(page) == ["w", "v", "a", "v", "a", "f"]
    form.locator("[name=name]").fill("Jane Visitor")
    send(page, "How do I reach the IT help desk?")
    assert log_order(page) == ["w", "v", "a", "v", "a", "f", "v", "a"]  # started: it stays put
    assert form.locator("[name=name]").input_value() == "Jane Visitor"
    assert page.locator("button.cs-handoff").is_visible()  # the form is up the conversation: this brings it back
    shot(page, "11-started-form-stays-put")

    page.locator("button.cs-handoff").click()  # asked for, it comes down with what was typed, to be finished
    assert log_order(page)[-1] == "f" and log_order(page).count("f") == 1
    assert form.locator("[name=name]").input_value() == "Jane Visitor"
    assert page.locator("button.cs-handoff").is_hidden()
    page.wait_for_function(f"() => {ROOT}.activeElement?.name === 'name'")
    form.locator("button.cs-lead-cancel").click()
    assert page.locator("form.cs-lead").count() == 0 and page.locator("button.cs-handoff").is_visible()


def test_the_preview_page_shows_why_its_origin_is_refused_until_the_agent_allows_it(demo, page):
    preview = f"{demo.appliance_origin}/workspaces/{demo.workspace_id}/agents/{demo.agent_id}/preview"
    page.goto(preview)
    page.locator("input[name=email]").fill(OPERATOR)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(preview)
    status = page.locator("#chatspark-preview-status")
    status.wait_for(state="visible", timeout=15_000)
    origin = demo.appliance_origin
    assert status.inner_text() == (f"ChatSpark: agent {demo.public_id} is not available on {origin}. To show it "
                                   f"here, add {origin} to the agent's allowed origins.")
    assert page.locator("button.cs-launcher").count() == 0
    shot(page, "13-preview-refused")

    base = f"/api/v1/workspaces/{demo.workspace_id}/agents/{demo.agent_id}"
    _, agent = demo.running.api("GET", base, token=demo.admin_token)
    before = agent["agent"]["allowed_origins"]
    assert agent["agent"]["preview_url"] == preview
    status_code, _ = demo.running.api("PATCH", base, {"allowed_origins": before + [origin]}, token=demo.admin_token)
    assert status_code == 200
    try:
        open_chat(page, preview)
        assert status.is_hidden()
        send(page, "Where do visitors park?")
        assert "B1" in last_reply(page).inner_text()
        shot(page, "14-preview-allowed")
    finally:
        demo.running.api("PATCH", base, {"allowed_origins": before}, token=demo.admin_token)


def test_the_widget_checks_lead_fields_with_the_servers_rules_and_words():
    script = (Path(__file__).resolve().parents[2] / "server" / "static" / "widget" / "widget.js").read_text()
    assert re.search(r"var EMAIL = /\^\(\?:(.*)\)\$/;", script).group(1) == leads._EMAIL.pattern
    assert re.search(r"var PHONE = /\^\(\?:(.*)\)\$/i;", script).group(1) == leads._PHONE.pattern
    assert leads._PHONE.flags & re.IGNORECASE
    server = Path(leads.__file__).read_text()
    for words in ("Enter an email address like name@example.com", "Enter a phone number like +44 20 7946 0958",
                  " is required", "Tick this box to leave your details"):
        assert words in script and words in server
