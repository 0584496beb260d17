"""Connecting and signing in, as an administrator meets them: the CA's fingerprint shown and pinned only when
confirmed, a pasted fingerprint checked, another CA refused with no way on, the session kept in memory only."""

from __future__ import annotations

import json

from gui.settings import PanelSettings
from tests.gui.driving import OPERATOR, WAIT_MS, new_panel, pin, sign_in, signed_in_window


def test_the_ca_is_pinned_only_after_the_admin_confirms_its_fingerprint(qtbot, tmp_path, served):
    panel = new_panel(tmp_path, served)
    qtbot.addWidget(panel.connect_dialog)
    dialog = panel.connect_dialog

    dialog.connect_action()
    qtbot.waitUntil(dialog.pin_button.isVisible, timeout=WAIT_MS)

    assert served.fingerprint in "".join(dialog.fingerprint.text().split()).removeprefix("SHA-256")
    assert "chatspark status" in dialog.instruction.text()
    assert not dialog.pin_button.isEnabled()
    assert PanelSettings(tmp_path / "panel.json").appliances() == []
    dialog.matches.setChecked(True)
    dialog.pin_action()
    qtbot.waitUntil(lambda: dialog.result_appliance is not None, timeout=WAIT_MS)
    [known] = PanelSettings(tmp_path / "panel.json").appliances()
    assert known.url == served.url and known.fingerprint == served.fingerprint


def test_a_pasted_fingerprint_that_matches_pins_without_asking_and_one_that_does_not_is_refused(qtbot, tmp_path,
                                                                                                 served):
    panel = new_panel(tmp_path, served)
    qtbot.addWidget(panel.connect_dialog)
    dialog = panel.connect_dialog
    dialog.pasted.setText("00:" * 31 + "00")
    dialog.connect_action()
    qtbot.waitUntil(lambda: dialog.banner.kind == "error", timeout=WAIT_MS)
    assert "will not connect" in dialog.banner.label.text() and not dialog.pin_button.isVisible()

    dialog.pasted.setText(served.fingerprint.lower().replace(":", ""))
    dialog.connect_action()
    qtbot.waitUntil(lambda: dialog.result_appliance is not None, timeout=WAIT_MS)


def test_a_known_appliance_presenting_another_ca_is_refused_with_no_way_to_continue(qtbot, tmp_path, served):
    settings_file = tmp_path / "panel.json"
    first = new_panel(tmp_path, served)
    qtbot.addWidget(first.connect_dialog)
    pin(qtbot, first)
    data = json.loads(settings_file.read_text())
    data["appliances"][0]["fingerprint"] = "AB:" * 31 + "AB"  # as if the appliance now showed another CA
    settings_file.write_text(json.dumps(data))

    panel = new_panel(tmp_path, served)
    qtbot.addWidget(panel.connect_dialog)
    dialog = panel.connect_dialog
    dialog.connect_action()
    qtbot.waitUntil(lambda: dialog.banner.kind == "error", timeout=WAIT_MS)

    assert "will not connect" in dialog.banner.label.text() and "someone may be in the middle" in \
        dialog.banner.label.text()
    assert dialog.result_appliance is None and not dialog.pin_button.isVisible() and not dialog.matches.isVisible()


def test_signing_in_opens_the_window_with_what_an_operator_may_see(qtbot, tmp_path, served):
    window = signed_in_window(qtbot, tmp_path, served)

    assert {"overview", "workspaces", "users", "backups", "jobs", "audit", "account"} <= set(window.destinations())
    page = window.current_page()
    qtbot.waitUntil(lambda: bool(page.facts), timeout=WAIT_MS)
    assert page.tiles["health"].value.text() == "Ready"
    saved = (tmp_path / "panel.json").read_text()
    assert OPERATOR[1] not in saved and window.context.api._token not in saved


def test_a_wrong_password_is_shown_on_the_form_and_nothing_opens(qtbot, tmp_path, served):
    panel = new_panel(tmp_path, served)
    qtbot.addWidget(panel.connect_dialog)
    pin(qtbot, panel)
    sign_in(qtbot, panel, OPERATOR[0], "not the password at all")
    dialog = panel.sign_in_dialog

    qtbot.waitUntil(lambda: not dialog.form.banner.isHidden(), timeout=WAIT_MS)
    assert panel.window is None and dialog.isVisible()
