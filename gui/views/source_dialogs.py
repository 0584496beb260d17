"""The Training data screen's forms for sources typed in rather than uploaded: pasted text (new, or edited) and a web
page or sitemap to crawl. Each sends its request itself and shows the appliance's refusal under the field it names.
The web page form says which sites the appliance may crawl (/me's crawl_allowed_hosts) and warns, as the address is
typed, when its host is not one of them; the appliance still decides, and its refusal is shown as any other."""

from __future__ import annotations

from urllib.parse import urlsplit

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDialog, QLabel, QLineEdit, QPlainTextEdit

from gui.client.errors import ApiError
from gui.views.page import Page
from gui.widgets.dialogs import DialogButtons, titled_layout
from gui.widgets.forms import FieldForm

CRAWL_NOTE = ("The appliance fetches only the sites an appliance operator has allowed (the crawl_allowed_hosts "
              "setting), and never addresses inside your network. This appliance does not tell the panel which "
              "sites those are: if yours is not allowed, the source is marked failed with the reason, and an "
              "operator can add it.")
CRAWL_OFF = ("Crawling is off on this appliance: no web page or sitemap can be added until an appliance operator "
             "lists your sites in the crawl_allowed_hosts setting.")
WARNING = "color:#8a4b00;font-size:11px;"


def crawl_note(hosts: list[str] | None) -> str:
    """What the form says of where the appliance may crawl; `hosts` None: an appliance too old to say."""
    if hosts is None:
        return CRAWL_NOTE
    if not hosts:
        return CRAWL_OFF
    wildcard = " (*.name: any subdomain of name)" if any(h.startswith("*.") for h in hosts) else ""
    return (f"This appliance may crawl: {', '.join(hosts)}{wildcard}. Pages on other sites, and addresses inside "
            "your network, are not fetched; an appliance operator adds sites to the crawl_allowed_hosts setting.")


def host_of(url: str) -> str:
    """The address's host as the crawler compares it (lower case, IDNA), or '' while there is none to read."""
    try:
        host = urlsplit(url.strip()).hostname or ""
        return host if host.isascii() else host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return ""


def may_crawl(host: str, hosts: list[str]) -> bool:
    """As the appliance's crawl policy decides: an exact name, or *.example.com for any subdomain of example.com."""
    return host in hosts or any(pattern.startswith("*.") and host.endswith(pattern[1:]) and
                                len(host) > len(pattern) - 1 for pattern in hosts)


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color:#5f6b7a;")
    return label


class _SourceForm(QDialog):
    """A form that sends one request and hands the API's answer (the source) to `saved`."""

    saved = Signal(dict)

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.page = page
        self.form = FieldForm()

    def _send(self, method: str, path: str, body: dict) -> None:
        self.submit.setEnabled(False)
        self.form.clear_errors()
        self.page.api.call(method, f"/api/v1/workspaces/{self.page.workspace_id}{path}", body,
                           on_done=self._saved, on_error=self._refused)

    def _saved(self, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.accept()
        self.saved.emit(answer["source"])

    def _refused(self, error: ApiError) -> None:
        self.submit.setEnabled(True)
        self.form.show_error(self._on_field(error), role=self.page.role)

    def _on_field(self, error: ApiError) -> ApiError:
        return error


class TextDialog(_SourceForm):
    """Pasted text, as a new source or the edit of one (`source` given, with the text it holds)."""

    def __init__(self, page: Page, *, source: dict | None = None, text: str = "") -> None:
        super().__init__(page)
        self.source = source
        title = f"Edit {source['title']}" if source else "Paste text"
        layout = titled_layout(self, title, width=680)
        layout.addWidget(_hint("Markdown headings (#, ##) become the passages' headings, so an answer can say where "
                               "it came from. Saving indexes the text again." if source else
                               "Paste an article, a policy or any notes the agents should answer from. Markdown "
                               "headings (#, ##) become the passages' headings."))
        self.title = self.form.add_field("title", "Title", QLineEdit(source["title"] if source else ""))
        self.title.setPlaceholderText("What it is, e.g. Returns policy")
        self.text = self.form.add_field("text", "Text", QPlainTextEdit(text))
        self.text.setMinimumHeight(300)
        layout.addWidget(self.form, 1)
        buttons = DialogButtons(self, "Save" if source else "Add text", self.submit_action, name="saveText")
        self.submit = buttons.action
        layout.addLayout(buttons)

    def submit_action(self) -> None:
        body = {"title": self.title.text().strip(), "text": self.text.toPlainText()}
        if self.source is not None:
            self._send("PATCH", f"/sources/{self.source['id']}", body)
        else:
            self._send("POST", "/sources", {"kind": "text", **body})

    def _on_field(self, error: ApiError) -> ApiError:
        words = error.message.lower()
        if error.status == 400 and error.field is None:
            if "text is empty" in words:
                return error.on_field("text")
            if "title" in words:
                return error.on_field("title")
        return error


class UrlDialog(_SourceForm):
    """A web page, or a sitemap whose pages are all crawled."""

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        layout = titled_layout(self, "Add a web page or sitemap", width=600)
        self.hosts: list[str] | None = page.context.appliance.get("crawl_allowed_hosts")
        self.url = self.form.add_field("url", "Address", QLineEdit())
        self.url.setPlaceholderText(f"https://{self.hosts[0].removeprefix('*.')}/help/returns" if self.hosts
                                    else "https://www.example.com/help/returns")
        # The panel's warning sits between the address and the appliance's own refusal, in the field's column.
        self.warning = QLabel()
        self.warning.setObjectName("warning_url")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(WARNING)
        self.warning.hide()
        self.url.parentWidget().layout().insertWidget(1, self.warning)
        self.url.textChanged.connect(self._check_host)
        self.sitemap = self.form.add_field("sitemap", "", QCheckBox("This is a sitemap: crawl every page it lists"))
        layout.addWidget(self.form)
        self.allowed = _hint(crawl_note(self.hosts))
        self.allowed.setObjectName("crawlNote")
        layout.addWidget(self.allowed)
        buttons = DialogButtons(self, "Add", self.submit_action, name="addUrl")
        self.submit = buttons.action
        layout.addLayout(buttons)

    def host_warning(self) -> str:
        """The warning under the address, if the panel can already tell that the appliance will not crawl it."""
        host = host_of(self.url.text())
        if not host or self.hosts is None or may_crawl(host, self.hosts):
            return ""
        if not self.hosts:
            return "Crawling is off on this appliance, so it will refuse this address (see below)."
        return (f"{host} is not among the hosts this appliance may crawl (listed below), so the source would fail. "
                "If it is one of your sites, an appliance operator can add it to crawl_allowed_hosts.")

    def _check_host(self) -> None:
        warning = self.host_warning()
        if warning == self.warning.text() and bool(warning) == self.warning.isVisibleTo(self):
            return
        self.warning.setText(warning)
        self.warning.setVisible(bool(warning))
        self._fit()

    def _fit(self) -> None:
        """Grow to show a wrapped warning whole (a dialog keeps its size when a label in it gets taller)."""
        self.layout().activate()
        wanted = self.heightForWidth(self.width())  # the size hint would leave a gap above the wrapped lines
        if wanted > self.height():
            self.resize(self.width(), wanted)

    def _refused(self, error: ApiError) -> None:
        super()._refused(error)
        if self.form.field_error("url"):
            self.warning.hide()  # the appliance's own reason replaces the panel's guess
            self._fit()

    def submit_action(self) -> None:
        self._check_host()
        self._send("POST", "/sources", {"kind": "sitemap" if self.sitemap.isChecked() else "url",
                                        "url": self.url.text().strip()})

    def _on_field(self, error: ApiError) -> ApiError:
        return error.on_field("url") if error.status == 400 and error.field != "url" else error
