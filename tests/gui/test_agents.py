"""The Agents screen, end to end: an agent made in the panel exists on the appliance; edited settings (threshold by
the slider, a required lead field, origins, colour) are saved as only what changed and read back through the API; a
bad origin, or a lead field the API refuses, is shown on its field and changes nothing; the snippet is copied as the
API gives it and Preview opens the API's preview URL; delete says what goes and removes the agent; a viewer reads the
settings and can change nothing."""

from __future__ import annotations

from PySide6.QtGui import QColor, QDesktopServices, QGuiApplication

from gui.views.agents import AgentsPage
from gui.widgets.dialogs import ConfirmDialog
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    answer_confirmation,
    idle,
    join,
    new_workspace,
    open_page,
    select_row,
    signed_in_window,
    unique,
)


def _workspace(served) -> str:
    return new_workspace(served, "Agents")["id"]


def _new_agent(served, workspace: str, **settings) -> dict:
    status, body = served.api("POST", f"/api/v1/workspaces/{workspace}/agents", {"name": unique("Agent"),
                                                                                 **settings})
    assert status == 201, body
    return body["agent"]


def _agent(served, workspace: str, agent_id: str) -> tuple[int, dict]:
    return served.api("GET", f"/api/v1/workspaces/{workspace}/agents/{agent_id}")


def _page(qtbot, window, workspace: str) -> AgentsPage:
    return open_page(qtbot, window, f"agents:{workspace}")


def _saved(page: AgentsPage) -> bool:
    return page.banner.kind == "info" and "saved; the widget uses the new settings" in page.banner.label.text()


def _showing(qtbot, page: AgentsPage, agent: dict) -> None:
    select_row(page.table, lambda a: a["id"] == agent["id"])
    qtbot.waitUntil(lambda: page.form.agent is not None and page.form.agent["id"] == agent["id"], timeout=WAIT_MS)


def test_an_agent_created_in_the_panel_is_on_the_appliance_and_selected(qtbot, tmp_path, served):
    workspace = _workspace(served)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    assert page.empty.isVisible() and page.empty.text().startswith("No agents yet. Create the first with New agent")
    assert not page.editor.isVisible()
    name = unique("IT desk")

    page.new_agent_action()
    dialog = page.create_dialog
    dialog.submit.click()
    assert "Give the agent a name" in dialog.form.field_error("name")
    dialog.name.setText(name)
    dialog.welcome.setText("Hi! Ask me about laptops and VPN.")
    dialog.submit.click()
    qtbot.waitUntil(lambda: page.form.agent is not None and page.form.agent["name"] == name, timeout=WAIT_MS)

    status, listed = served.api("GET", f"/api/v1/workspaces/{workspace}/agents")
    assert status == 200
    [made] = listed["agents"]
    assert (made["name"], made["welcome_message"]) == (name, "Hi! Ask me about laptops and VPN.")
    assert page.selected_agent()["id"] == made["id"] and page.editor.isVisible() and not page.empty.isVisible()
    assert page.form.name.text() == name and page.snippet.toPlainText() == made["embed_snippet"]
    assert page.form.threshold.slider.value() == round(made["confidence_threshold"] * 100)
    assert f"Agent {name} created" in page.banner.label.text()


def test_edited_settings_are_saved_as_only_what_changed_and_read_back(qtbot, tmp_path, served):
    workspace = _workspace(served)
    agent = _new_agent(served, workspace)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    _showing(qtbot, page, agent)
    form = page.form
    assert not page.save_button.isEnabled() and form.changes() == {}

    form.threshold.slider.setValue(70)
    assert "at least 70% confidence" in form.threshold.meaning.text()
    form.lead_fields.required_box("name").setChecked(True)
    form.lead_fields.add_choice.setCurrentIndex(form.lead_fields.add_choice.findData("phone"))
    form.lead_fields.add_action()
    form.lead_fields.required_box("phone").setChecked(True)
    form.allowed_origins.setPlainText("https://Intranet.Example.com\nhttp://localhost:8080\n")
    form.colour.choose_action()
    form.colour.dialog.setCurrentColor(QColor("#10b981"))
    form.colour.dialog.accept()
    form.consent_text.setPlainText("You may contact me about this question.")

    assert set(form.changes()) == {"confidence_threshold", "lead_fields", "allowed_origins", "color",
                                   "consent_text"}
    assert page.save_button.isEnabled() and "confidence threshold" in page.unsaved.text()
    page.save_button.click()
    qtbot.waitUntil(lambda: _saved(page), timeout=WAIT_MS)
    idle(qtbot, window.context)

    status, body = _agent(served, workspace, agent["id"])
    saved = body["agent"]
    assert status == 200 and saved["confidence_threshold"] == 0.7
    assert [(f["name"], f["type"], f["required"]) for f in saved["lead_fields"]] == [
        ("name", "text", True), ("email", "email", True), ("phone", "tel", True)]
    assert saved["allowed_origins"] == ["https://intranet.example.com", "http://localhost:8080"]
    assert saved["color"] == "#10b981" and form.colour.code.text() == "#10b981"
    assert (saved["consent_text"], saved["consent_version"]) == ("You may contact me about this question.", 2)
    assert form.consent_version.text().startswith("Version 2")
    assert (saved["name"], saved["fallback_text"], saved["generator"]) == (
        agent["name"], agent["fallback_text"], None)
    assert form.changes() == {} and not page.save_button.isEnabled()


def test_a_bad_origin_or_a_refused_lead_field_is_shown_on_its_field_and_changes_nothing(qtbot, tmp_path, served):
    workspace = _workspace(served)
    agent = _new_agent(served, workspace, allowed_origins=["https://intranet.example.com"])
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    _showing(qtbot, page, agent)
    form = page.form

    form.allowed_origins.setPlainText("https://intranet.example.com\nnot a url")
    form.name.setText(unique("Renamed"))
    page.save_button.click()
    assert 'Line 2, "not a url", is not an origin' in form.field_error("allowed_origins")
    assert not form.field_error("name") and page.banner.label.text().startswith("Not saved")

    form.allowed_origins.setPlainText("https://intranet.example.com")
    form.lead_fields.add_choice.setCurrentIndex(form.lead_fields.add_choice.findData(""))
    form.lead_fields.add_action()
    row = form.lead_fields.table.rowCount() - 1
    form.lead_fields.table.cellWidget(row, 0).setText("Order Number")
    form.lead_fields.table.cellWidget(row, 1).setText("Order number")
    page.save_button.click()
    qtbot.waitUntil(lambda: bool(form.field_error("lead_fields")), timeout=WAIT_MS)

    assert form.field_error("lead_fields").startswith("Lead field 3 (name): a name is lower-case letters")
    assert not form.field_error("allowed_origins") and form.banner.isHidden()
    status, body = _agent(served, workspace, agent["id"])
    assert status == 200 and body["agent"] == agent
    assert page.save_button.isEnabled() and "unsaved" in page.unsaved.text().lower()


def test_copy_snippet_takes_the_api_snippet_and_preview_opens_the_api_preview_url(qtbot, tmp_path, served,
                                                                                  monkeypatch):
    workspace = _workspace(served)
    agent = _new_agent(served, workspace)
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toString()) or True)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    _showing(qtbot, page, agent)
    QGuiApplication.clipboard().clear()

    page.copy_button.click()
    page.preview_button.click()

    assert QGuiApplication.clipboard().text() == agent["embed_snippet"]
    assert f'data-agent="{agent["public_id"]}"' in agent["embed_snippet"]
    assert page.copied.text() == "Copied to the clipboard."
    assert opened == [agent["preview_url"]]


def test_deleting_an_agent_says_what_goes_and_removes_it(qtbot, tmp_path, served):
    workspace = _workspace(served)
    kept, doomed = _new_agent(served, workspace), _new_agent(served, workspace)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    _showing(qtbot, page, doomed)

    page.delete_button.click()
    said = answer_confirmation(qtbot, page, accept=False)
    assert doomed["name"] in said and "conversations" in said and "leads" in said and "cannot be undone" in said
    assert _agent(served, workspace, doomed["id"])[0] == 200
    page.delete_button.click()
    answer_confirmation(qtbot, page)
    qtbot.waitUntil(lambda: page.agents.rowCount() == 1, timeout=WAIT_MS)

    assert _agent(served, workspace, doomed["id"])[0] == 404
    assert _agent(served, workspace, kept["id"])[0] == 200
    assert page.form.agent["id"] == kept["id"] and "was deleted" in page.banner.label.text()


def test_leaving_an_agent_with_unsaved_changes_asks_first(qtbot, tmp_path, served):
    workspace = _workspace(served)
    first, second = _new_agent(served, workspace), _new_agent(served, workspace)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    _showing(qtbot, page, first)
    page.form.welcome_message.setPlainText("Changed, not saved")

    select_row(page.table, lambda a: a["id"] == second["id"])
    said = answer_confirmation(qtbot, page, accept=False)
    assert "welcome message" in said
    assert page.selected_agent()["id"] == first["id"]
    assert page.form.welcome_message.toPlainText() == "Changed, not saved"
    select_row(page.table, lambda a: a["id"] == second["id"])
    answer_confirmation(qtbot, page)

    assert page.form.agent["id"] == second["id"] and page.form.changes() == {}
    assert _agent(served, workspace, first["id"])[1]["agent"]["welcome_message"] == ""


def test_a_viewer_reads_the_settings_but_cannot_change_anything(qtbot, tmp_path, served):
    workspace = _workspace(served)
    agent = _new_agent(served, workspace, allowed_origins=["https://intranet.example.com"])
    email, _ = join(qtbot, served, workspace, "viewer")
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)
    page = _page(qtbot, window, workspace)
    _showing(qtbot, page, agent)
    form = page.form

    assert "viewer" in page.read_only_notice.label.text() and page.read_only_notice.isVisible()
    assert not page.new_button.isEnabled() and not page.delete_button.isEnabled()
    assert form.name.isReadOnly() and form.allowed_origins.isReadOnly() and form.consent_text.isReadOnly()
    assert not form.threshold.slider.isEnabled() and not form.colour.choose_button.isEnabled()
    assert not form.lead_capture.isEnabled() and not form.lead_fields.add_button.isEnabled()
    assert not form.lead_fields.required_box("email").isEnabled()
    assert page.copy_button.isEnabled() and page.preview_button.isEnabled()
    form.threshold.slider.setValue(10)  # what a script could still do to a disabled control
    page.save_action()
    idle(qtbot, window.context)

    assert not page.save_button.isEnabled()
    assert _agent(served, workspace, agent["id"])[1]["agent"] == agent
    assert not any(d.isVisible() for d in page.findChildren(ConfirmDialog))
    page.delete_action()
    assert not any(d.isVisible() for d in page.findChildren(ConfirmDialog))


def test_a_generator_is_set_checked_and_turned_off_again(qtbot, tmp_path, served):
    workspace = _workspace(served)
    agent = _new_agent(served, workspace)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    _showing(qtbot, page, agent)
    form = page.form
    assert not form.use_generator.isChecked() and form.generator_url.isHidden()

    form.use_generator.setChecked(True)
    form.generator_url.setText("ftp://llm.intranet/v1")
    page.save_button.click()
    assert "http:// or https://" in form.field_error("generator")
    assert _agent(served, workspace, agent["id"])[1]["agent"]["generator"] is None
    form.generator_url.setText("http://llm.intranet:8080/v1")
    form.generator_model.setText("llama-3.1-8b-instruct")
    form.generator_timeout.setValue(45)
    page.save_button.click()
    qtbot.waitUntil(lambda: _saved(page), timeout=WAIT_MS)

    assert _agent(served, workspace, agent["id"])[1]["agent"]["generator"] == {
        "url": "http://llm.intranet:8080/v1", "model": "llama-3.1-8b-instruct", "timeout_seconds": 45}
    assert not form.field_error("generator") and form.changes() == {}
    form.use_generator.setChecked(False)
    assert form.changes() == {"generator": None}
    page.save_button.click()
    qtbot.waitUntil(lambda: form.agent["generator"] is None, timeout=WAIT_MS)
    assert _agent(served, workspace, agent["id"])[1]["agent"]["generator"] is None


def test_a_cancelled_workspace_shows_its_agents_read_only(qtbot, tmp_path, served):
    workspace = _workspace(served)
    agent = _new_agent(served, workspace)
    assert served.api("POST", f"/api/v1/workspaces/{workspace}/cancel")[0] == 200
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    _showing(qtbot, page, agent)

    assert page.read_only_notice.isVisible() and "cancelled and read-only" in page.read_only_notice.label.text()
    assert not page.new_button.isEnabled() and not page.delete_button.isEnabled()
    assert page.form.name.isReadOnly() and not page.form.use_generator.isEnabled()
    assert page.snippet.toPlainText() == agent["embed_snippet"] and page.copy_button.isEnabled()
