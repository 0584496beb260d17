"""Connecting to an appliance: its CA is fetched, its fingerprint shown beside the instruction to compare it with
what `chatspark status` prints, and pinned only when the admin confirms (or a given fingerprint matches). A known
appliance that presents another CA is refused, with no way to continue anyway."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QCheckBox, QComboBox, QDialog, QLabel, QLineEdit, QVBoxLayout, QWidget

from appliance.errors import ApplianceError
from appliance.keys import certificates
from appliance.keys.pinning import PinnedClient, fetch_ca
from gui.client.background import Background
from gui.settings import KnownAppliance, PanelSettings
from gui.widgets.banner import Banner
from gui.widgets.dialogs import DialogButtons

REFUSED = ("The appliance at {url} presents a certificate authority with fingerprint\n{seen}\nbut the one you pinned "
           "has\n{pinned}.\n\nThe panel will not connect: someone may be in the middle. If the appliance's CA was "
           "replaced on purpose (`chatspark serve` printed both fingerprints), remove this appliance from the panel's "
           "list and connect again after comparing the new fingerprint with `chatspark status`.")


def _two_lines(fingerprint: str) -> str:
    """SHA-256 fingerprints are 32 pairs: shown as two rows of 16, as `chatspark status` readers compare them."""
    pairs = fingerprint.split(":")
    return "SHA-256  " + ":".join(pairs[:16]) + ":\n         " + ":".join(pairs[16:])


class ConnectDialog(QDialog):
    """Asks where the appliance is and who vouches for it; `result_appliance` is set when accepted."""

    def __init__(self, settings: PanelSettings, background: Background, *, url: str = "", fingerprint: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to an appliance")
        self.setMinimumWidth(620)
        self.settings, self.background = settings, background
        self.result_appliance: KnownAppliance | None = None
        self._fetched: tuple[bytes, str] | None = None
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        intro = QLabel("Enter the address of your ChatSpark appliance, for example https://chatspark.intranet:8443.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.url = QComboBox()
        self.url.setEditable(True)
        self.url.setObjectName("url")
        self.url.addItems([known.url for known in settings.appliances()])
        self.url.setCurrentText(url or (self.url.itemText(0) if self.url.count() else "https://"))
        layout.addWidget(self.url)
        self.pasted = QLineEdit(fingerprint)
        self.pasted.setObjectName("fingerprint")
        self.pasted.setPlaceholderText("Optional: the CA fingerprint from `chatspark status`, to check it for you")
        layout.addWidget(self.pasted)
        self.banner = Banner(self)
        layout.addWidget(self.banner)
        self.fingerprint = QLabel()
        self.fingerprint.setObjectName("shownFingerprint")
        self.fingerprint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        mono = QFont("DejaVu Sans Mono")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.fingerprint.setFont(mono)
        self.fingerprint.setWordWrap(True)
        self.fingerprint.hide()
        layout.addWidget(self.fingerprint)
        self.instruction = QLabel("On the appliance, run `chatspark status` (or look at what `make run` printed) and "
                                  "compare its CA fingerprint with the one above, pair by pair. Pin it only if they "
                                  "are the same: from then on the panel trusts this CA, and no other, for this "
                                  "appliance.")
        self.instruction.setWordWrap(True)
        self.instruction.hide()
        layout.addWidget(self.instruction)
        self.matches = QCheckBox("The fingerprints are the same")
        self.matches.setObjectName("matches")
        self.matches.hide()
        self.matches.toggled.connect(lambda on: self.pin_button.setEnabled(on))
        layout.addWidget(self.matches)
        buttons = DialogButtons(self, "Connect", self.connect_action, name="connect")
        self.cancel_button, self.connect_button = buttons.cancel, buttons.action
        self.pin_button = buttons.add("Pin and connect", self.pin_action, name="pin")
        self.pin_button.setEnabled(False)
        self.pin_button.hide()
        layout.addLayout(buttons)

    @property
    def address(self) -> str:
        return self.url.currentText().strip().rstrip("/")

    def connect_action(self) -> None:
        url = self.address
        self.banner.show_message(f"Fetching the certificate authority of {url} ...", kind="info")
        self.adjustSize()
        self.connect_button.setEnabled(False)
        self.background.run(lambda: fetch_ca(url), on_done=lambda found: self._fetched_ca(url, found),
                            on_error=self._failed)

    def pin_action(self) -> None:
        if self._fetched is not None:
            pem, seen = self._fetched
            self._pin(self.address, pem, seen)

    def _fetched_ca(self, url: str, found: tuple[bytes, str]) -> None:
        self.connect_button.setEnabled(True)
        pem, seen = found
        known = self.settings.find(url)
        if known is not None:
            if seen != known.fingerprint:
                self._refuse(REFUSED.format(url=url, seen=seen, pinned=known.fingerprint))
                return
            self._pin(url, known.ca_pem.encode("ascii"), known.fingerprint)
            return
        pasted = self.pasted.text().strip()
        if pasted:
            try:
                wanted = certificates.normalise_fingerprint(pasted)
            except ApplianceError as exc:
                self.banner.show_message(str(exc), kind="error")
                return
            if wanted != seen:
                self._refuse(f"The appliance at {url} presents CA fingerprint\n{seen}\nnot the one you gave\n{wanted}."
                             "\n\nThe panel will not connect. Check the address, and the fingerprint `chatspark "
                             "status` prints on the appliance.")
                return
            self._pin(url, pem, seen)
            return
        self._fetched = found
        self.banner.show_message("Check the certificate authority before you trust it.", kind="warning")
        self.fingerprint.setText(_two_lines(seen))
        for widget in (self.fingerprint, self.instruction, self.matches, self.pin_button):
            widget.show()
        self.connect_button.hide()
        self.adjustSize()

    def _pin(self, url: str, pem: bytes, fingerprint: str) -> None:
        def check() -> KnownAppliance:
            client = PinnedClient(url, ca_fingerprint=fingerprint, ca_pem=pem, timeout=10)
            answer = client.get("/healthz")
            if answer.status != 200:
                raise ApplianceError(f"{url} answered /healthz with HTTP {answer.status}")
            known = self.settings.find(url)
            return KnownAppliance(url, fingerprint, pem.decode("ascii"), known.last_email if known else "")

        self.banner.show_message(f"Connecting to {url} over TLS 1.3 ...", kind="info")
        self.background.run(check, on_done=self._connected, on_error=self._failed)

    def _connected(self, appliance: KnownAppliance) -> None:
        self.settings.remember(appliance)
        self.result_appliance = appliance
        self.accept()

    def _refuse(self, text: str) -> None:
        self.banner.show_message(text, kind="error")
        for widget in (self.fingerprint, self.instruction, self.matches, self.pin_button):
            widget.hide()
        self.connect_button.show()
        self.connect_button.setEnabled(True)
        self.adjustSize()

    def _failed(self, error: BaseException) -> None:
        self.connect_button.setEnabled(True)
        self.banner.show_message(f"Cannot connect: {error}", kind="error")
