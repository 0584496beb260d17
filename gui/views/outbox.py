"""The mail outbox (operators): invitations, password resets, lead notices and alerts waiting to be delivered,
failed ones first; without a mail relay they never leave, so the banner says so and "Open mail" shows one whole with
its links to pass on by hand (audited). The same as `chatspark mail outbox` and `chatspark mail show`."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel

from gui.models.table import Column, RecordsModel
from gui.views.outbox_mail import MailDialog
from gui.views.page import Page
from gui.widgets.buttons import action_button
from gui.widgets.formatting import ago, when
from gui.widgets.tables import records_table, select_record, selected_record

LISTED = 200
FAILED = "#fdecea"
STATES = {"pending": "waiting", "failed": "failed", "sent": "delivered"}


def _attempts(mail: dict) -> str:
    if mail["status"] == "sent":
        return f"delivered {when(mail.get('sent_at'))}"
    if mail["status"] == "pending" and mail.get("next_attempt_at") and mail["attempts"]:
        return f"{mail['attempts']}, next {when(mail['next_attempt_at'])}"
    return str(mail["attempts"])


class OutboxPage(Page):
    title = "Mail outbox"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.add_intro("Mail the appliance sends: invitations, password resets, lead notices and alerts. Waiting "
                       "mail is retried until it is delivered or gives up; open one to read it and copy its links.")
        options = QHBoxLayout()
        self.include_sent = QCheckBox("Include delivered mail")
        self.include_sent.setObjectName("includeSent")
        self.include_sent.toggled.connect(self.refresh_action)
        options.addWidget(self.include_sent)
        options.addStretch(1)
        self.open_button = action_button("Open mail…", self.open_action, name="openMail", row=options)
        self.open_button.setEnabled(False)
        self.body.addLayout(options)
        self.mail = RecordsModel([
            Column("status", "State", show=lambda m: STATES.get(m["status"], m["status"])),
            Column("recipient", "To"),
            Column("subject", "Subject"),
            Column("created_at", "Queued", show=lambda m: ago(m["created_at"])),
            Column("attempts", "Attempts", show=_attempts),
            Column("last_error", "Last error", show=lambda m: m.get("last_error") or ""),
        ], highlight=lambda m: FAILED if m["status"] == "failed" else None)
        self.table = records_table(self.mail, name="outboxTable", widths={0: 80, 1: 210, 2: 300, 3: 100, 4: 170},
                                   stretch=5)
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.table.doubleClicked.connect(lambda _index: self.open_action())
        self.body.addWidget(self.table, 1)
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.body.addWidget(self.empty)
        self.dialog: MailDialog | None = None

    def refresh_action(self) -> None:
        query = f"?limit={LISTED}" + ("&all=true" if self.include_sent.isChecked() else "")
        self.api.get(f"/api/v1/mail/outbox{query}", on_done=self._got, on_error=self.show_error)

    def open_action(self) -> None:
        mail = selected_record(self.table)
        if mail is None or mail["status"] == "sent":
            return
        self.api.get(f"/api/v1/mail/outbox/{mail['id']}", on_done=lambda a: self._show(a["mail"]),
                     on_error=self.show_error)

    def _got(self, answer: dict) -> None:
        selected = (selected_record(self.table) or {}).get("id")
        mail = sorted(answer["mail"], key=lambda m: (m["status"] != "failed", m["status"] != "pending"))
        self.mail.set_records(mail)
        select_record(self.table, selected)
        waiting = [m for m in mail if m["status"] != "sent"]
        if not answer["relay"]:
            self.banner.show_message(
                "No mail relay is set, so no mail leaves this appliance: invitations and resets wait here. Open one "
                "to copy its link, or set [mail] smtp_host in appliance.toml.", kind="warning")
        elif any(m["status"] == "failed" for m in mail):
            self.banner.show_message("Some mail could not be delivered (in red): its last error says why.",
                                     kind="warning")
        else:
            self.clear_message()
        if mail:
            self.empty.setText(f"{len(waiting)} waiting or failed." if waiting else "Nothing is waiting.")
        else:
            self.empty.setText("The outbox is empty: nothing is waiting to be sent."
                               + ("" if self.include_sent.isChecked() else
                                  " Tick \"Include delivered mail\" to see what was sent."))
        self._selected()

    def _selected(self) -> None:
        mail = selected_record(self.table)
        self.open_button.setEnabled(mail is not None and mail["status"] != "sent")
        self.open_button.setToolTip("A delivered mail's body is not kept." if mail and mail["status"] == "sent"
                                    else "")

    def _show(self, mail: dict) -> None:
        self.dialog = MailDialog(self, mail)
        self.dialog.open()
