"""An agent's settings as a form: each field with its limits (appliance/agent/agents.py, check_settings), checked
here where the panel can say more than the API would, the API's own refusals shown under the field they name, and
`changes()`, only what differs from the agent as loaded, for a PATCH."""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QPlainTextEdit, QSpinBox, QVBoxLayout, QWidget

from gui.client.errors import ApiError
from gui.views.agent_controls import ColourChooser, ThresholdSlider
from gui.views.agent_lead_fields import LeadFieldsEditor
from gui.widgets.forms import FieldForm

TEXT_LIMITS = {"name": 100, "instructions": 4000, "welcome_message": 1000, "fallback_text": 1000,
               "consent_text": 2000}
REQUIRED_TEXTS = {"name": "A name is required", "fallback_text": "The fallback text cannot be empty",
                  "consent_text": "The consent text cannot be empty"}
MAX_QUESTIONS, QUESTION_LENGTH, MAX_ORIGINS = 10, 200, 50
ANSWER_LENGTHS = {"short": "Short (a sentence or two)", "medium": "Medium (a paragraph)",
                  "long": "Long (several paragraphs)"}
LEAD_CAPTURE = {"off": "Off", "on_fallback": "When the agent cannot answer", "always": "With every reply"}
DEFAULT_TIMEOUT = 20  # seconds, the API's default for a generator
_QUOTED = re.compile(r"'(?P<field>[a-z_]+)(?:/[a-z_]+)?'")
_PATH = re.compile(r"^(?P<field>[a-z_]+)(?:/(?P<index>\d+))?(?:/(?P<key>\w+))?: (?P<rest>.+)$", re.DOTALL)
NAME_RULE = "a name is lower-case letters, digits and _, starting with a letter (like order_number)"


def on_its_field(error: ApiError, fields: tuple[str, ...]) -> ApiError:
    """`error` (a 400) named to the form's field it is about, its words made to say which lead field is wrong."""
    path = _PATH.match(error.message)
    if path and path.group("field") in fields:
        if path.group("field") == "lead_fields" and path.group("index") is not None:
            rest = path.group("rest")
            if path.group("key") == "name" and "expected form" in rest:
                rest = NAME_RULE
            message = f"Lead field {int(path.group('index')) + 1} ({path.group('key') or 'the field'}): {rest}"
            return dataclasses.replace(error, message=message, named_field="lead_fields")
        return error.on_field(path.group("field"))
    if "lead field" in error.message or "'lead_fields'" in error.message:
        return error.on_field("lead_fields")
    quoted = _QUOTED.search(error.message)
    if quoted and quoted.group("field") in fields:
        return error.on_field(quoted.group("field"))
    return error


def origin_problem(line: str) -> str | None:
    """Why `line` is not an origin the API takes (scheme://host[:port], nothing after), or None if it is one."""
    try:
        parts = urlsplit(line)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return "its port is not a number"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it does not start with https:// or http:// and a host"
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return "it has something after the host and port (a path, query or user); the origin is only the start"
    return None


def _lines(edit: QPlainTextEdit) -> list[str]:
    return [line.strip() for line in edit.toPlainText().splitlines() if line.strip()]


def _text_box(height: int, limit: int | None = None) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setFixedHeight(height)
    box.setTabChangesFocus(True)
    if limit:
        box.setPlaceholderText(f"Up to {limit} characters")
    return box


def _choice(choices: dict[str, str]) -> QComboBox:
    """A drop-down of {value: what it means}, as narrow as the form needs (its longest choice may be cut short)."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(min(28, max(len(shown) for shown in choices.values())))
    for value, shown in choices.items():
        combo.addItem(shown, value)
    return combo


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-size:14px;font-weight:600;margin-top:10px;")
    return label


class AgentForm(FieldForm):
    """The settings of one agent; `edited` is emitted whenever a field is changed by hand."""

    edited = Signal()
    FIELDS = ("name", "instructions", "welcome_message", "suggested_questions", "fallback_text",
              "confidence_threshold", "answer_length", "lead_capture", "notify_on_lead", "lead_fields",
              "consent_text", "allowed_origins", "color", "generator")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.agent: dict | None = None
        self.labels: dict[str, str] = {}  # field -> its label, to name what changed
        self.layout_.addRow(_heading("How it answers"))
        self.name = self.add_field("name", "Name", QLineEdit(), hint="Shown at the top of the chat widget.")
        self.name.setMaxLength(TEXT_LIMITS["name"])
        self.instructions = self.add_field("instructions", "Instructions", _text_box(90, 4000), hint=(
            "The agent's persona and rules, e.g. \"You answer for Northwind's IT desk; be brief and friendly.\" "
            "Used when a language model writes the answers."))
        self.welcome_message = self.add_field("welcome_message", "Welcome message", _text_box(56, 1000),
                                              hint="The first message a visitor sees. Empty: none.")
        self.suggested_questions = self.add_field("suggested_questions", "Suggested questions", _text_box(76),
                                                  hint=f"One per line, at most {MAX_QUESTIONS}, each up to "
                                                       f"{QUESTION_LENGTH} characters; shown as buttons.")
        self.suggested_questions.setPlaceholderText("How do I reset my password?\nWhere is the VPN guide?")
        self.fallback_text = self.add_field("fallback_text", "Fallback text", _text_box(56, 1000),
                                            hint="The reply when the agent is not confident enough to answer.")
        self.threshold = self.add_field("confidence_threshold", "Confidence threshold", ThresholdSlider())
        self.answer_length = self.add_field("answer_length", "Answer length", _choice(ANSWER_LENGTHS))

        self.layout_.addRow(_heading("Leads"))
        self.lead_capture = self.add_field("lead_capture", "Lead capture", _choice(LEAD_CAPTURE), hint=(
            "When the lead form is offered to leave contact details: with the fallback text, with every reply, or "
            "never."))
        self.notify_on_lead = self.add_field("notify_on_lead", "Notify", QCheckBox(
            "Mail the workspace's owners and admins about each new lead"))
        self.lead_fields = self.add_field("lead_fields", "Lead form", LeadFieldsEditor(), hint=(
            "1 to 12 fields. Built-in: name, email, phone, company; your own fields have a lower-case name "
            "(letters, digits, _). Tick Required for what a visitor must fill in."))
        consent = QWidget()
        column = QVBoxLayout(consent)
        column.setContentsMargins(0, 0, 0, 0)
        self.consent_text = _text_box(56, 2000)
        column.addWidget(self.consent_text)
        self.consent_version = QLabel()
        self.consent_version.setObjectName("consentVersion")
        column.addWidget(self.consent_version)
        self.add_field("consent_text", "Consent text", consent, hint=(
            "Beside the consent box of the lead form. Each lead keeps the exact text and version it agreed to; "
            "saving a new text raises the version."))

        self.layout_.addRow(_heading("Widget"))
        self.allowed_origins = self.add_field("allowed_origins", "Allowed origins", _text_box(76), hint=(
            f"The sites whose pages may show the widget, one origin per line (at most {MAX_ORIGINS}), like "
            "https://intranet.example.com or http://localhost:8080. Empty: no site yet."))
        self.allowed_origins.setPlaceholderText("https://intranet.example.com")
        self.colour = self.add_field("color", "Colour", ColourChooser(), hint="The widget's button and header.")

        self.layout_.addRow(_heading("Generator (optional)"))
        generator = QWidget()
        column = QVBoxLayout(generator)
        column.setContentsMargins(0, 0, 0, 0)
        self.use_generator = QCheckBox("Write answers with a language model (an OpenAI-compatible endpoint)")
        self.use_generator.setObjectName("useGenerator")
        column.addWidget(self.use_generator)
        self.generator_url = QLineEdit()
        self.generator_url.setObjectName("generatorUrl")
        self.generator_url.setPlaceholderText("Endpoint, e.g. http://llm.intranet:8080/v1")
        column.addWidget(self.generator_url)
        self.generator_model = QLineEdit()
        self.generator_model.setObjectName("generatorModel")
        self.generator_model.setMaxLength(200)
        self.generator_model.setPlaceholderText("Model, e.g. llama-3.1-8b-instruct (empty: the endpoint's default)")
        column.addWidget(self.generator_model)
        self.generator_timeout = QSpinBox()
        self.generator_timeout.setObjectName("generatorTimeout")
        self.generator_timeout.setRange(1, 120)
        self.generator_timeout.setSuffix(" s to wait for an answer")
        self.generator_timeout.setMaximumWidth(240)
        column.addWidget(self.generator_timeout)
        self.add_field("generator", "Generator", generator, hint=(
            "Off: answers are the best passages of your sources, quoted and cited. On: the model writes them from "
            "those passages; an operator must allow its host (egress allow-list), else answers stay quoted."))
        self.use_generator.toggled.connect(self._generator_toggled)
        self._connect_edits()

    def add_field(self, name: str, label: str, widget: QWidget, *, hint: str = "") -> QWidget:
        self.labels[name] = label
        return super().add_field(name, label, widget, hint=hint)

    # --- loading and reading --------------------------------------------------------------------------------

    def load(self, agent: dict) -> None:
        """Show `agent` (as the API gives it); what is shown now counts as unchanged."""
        self.agent = agent
        self.clear_errors()
        self.blockSignals(True)
        self.name.setText(agent["name"])
        for box in ("instructions", "welcome_message", "fallback_text"):
            getattr(self, box).setPlainText(agent[box])
        self.suggested_questions.setPlainText("\n".join(agent["suggested_questions"]))
        self.threshold.set_value(agent["confidence_threshold"])
        self.answer_length.setCurrentIndex(max(0, self.answer_length.findData(agent["answer_length"])))
        self.lead_capture.setCurrentIndex(max(0, self.lead_capture.findData(agent["lead_capture"])))
        self.notify_on_lead.setChecked(agent["notify_on_lead"])
        self.lead_fields.set_fields(agent["lead_fields"])
        self.consent_text.setPlainText(agent["consent_text"])
        self.consent_version.setText(f"Version {agent['consent_version']}: the text leads agree to now.")
        self.allowed_origins.setPlainText("\n".join(agent["allowed_origins"]))
        self.colour.set_hex(agent["color"])
        generator = agent.get("generator") or {}
        self.use_generator.setChecked(bool(generator))
        self.generator_url.setText(generator.get("url", ""))
        self.generator_model.setText(generator.get("model", ""))
        self.generator_timeout.setValue(int(generator.get("timeout_seconds", DEFAULT_TIMEOUT)))
        self._generator_toggled(bool(generator))
        self.blockSignals(False)

    def values(self) -> dict:
        """Every setting as the API takes it, from what the fields show."""
        generator = None
        if self.use_generator.isChecked():
            generator = {"url": self.generator_url.text().strip(), "model": self.generator_model.text().strip(),
                         "timeout_seconds": self.generator_timeout.value()}
        return {
            "name": self.name.text().strip(),
            "instructions": self.instructions.toPlainText().strip(),
            "welcome_message": self.welcome_message.toPlainText().strip(),
            "suggested_questions": _lines(self.suggested_questions),
            "fallback_text": self.fallback_text.toPlainText().strip(),
            "confidence_threshold": self.threshold.value(),
            "answer_length": self.answer_length.currentData(),
            "lead_capture": self.lead_capture.currentData(),
            "notify_on_lead": self.notify_on_lead.isChecked(),
            "lead_fields": self.lead_fields.fields(),
            "consent_text": self.consent_text.toPlainText().strip(),
            "allowed_origins": _lines(self.allowed_origins),
            "color": self.colour.hex(),
            "generator": generator,
        }

    def changes(self) -> dict:
        """Only the settings that differ from the agent as loaded (the body of a PATCH)."""
        if self.agent is None:
            return {}
        loaded = {**self.agent, "confidence_threshold": round(self.agent["confidence_threshold"], 2),
                  "lead_fields": [{"name": f["name"], "label": f["label"], "type": f["type"],
                                   "required": f["required"]} for f in self.agent["lead_fields"]],
                  "generator": self.agent.get("generator") or None}
        return {name: value for name, value in self.values().items() if value != loaded[name]}

    # --- checking -------------------------------------------------------------------------------------------

    def problems(self, changes: dict) -> dict[str, str]:
        """What the panel can tell is wrong with `changes` before sending them: {field: what to do}."""
        found: dict[str, str] = {}
        for name, limit in TEXT_LIMITS.items():
            if name in changes:
                if name in REQUIRED_TEXTS and not changes[name]:
                    found[name] = f"{REQUIRED_TEXTS[name]}: write 1 to {limit} characters."
                elif len(changes[name]) > limit:
                    found[name] = f"At most {limit} characters; this has {len(changes[name])}. Shorten it."
        questions = changes.get("suggested_questions", [])
        if len(questions) > MAX_QUESTIONS:
            found["suggested_questions"] = f"At most {MAX_QUESTIONS} questions; remove {len(questions) - 10}."
        long = [n for n, q in enumerate(questions, 1) if len(q) > QUESTION_LENGTH]
        if long:
            found["suggested_questions"] = (f"Question {long[0]} has {len(questions[long[0] - 1])} characters; "
                                            f"keep each to {QUESTION_LENGTH}.")
        origins = changes.get("allowed_origins", [])
        if len(origins) > MAX_ORIGINS:
            found["allowed_origins"] = f"At most {MAX_ORIGINS} origins; this lists {len(origins)}."
        for number, line in enumerate(origins, 1):
            problem = origin_problem(line)
            if problem:
                found["allowed_origins"] = (f"Line {number}, \"{line}\", is not an origin: {problem}. Write "
                                            "scheme://host[:port], like https://intranet.example.com.")
                break
        generator = changes.get("generator")
        if generator is not None:
            parts = urlsplit(generator["url"])
            if parts.scheme not in ("http", "https") or not parts.hostname:
                found["generator"] = ("The endpoint must be an http:// or https:// address with a host, like "
                                      "http://llm.intranet:8080/v1.")
        return found

    def show_problems(self, problems: dict[str, str]) -> None:
        """Each problem under its field; the first of them focused."""
        self.clear_errors()
        for name, text in problems.items():
            self._errors[name].setText(text)
            self._errors[name].show()
        first = next((name for name in self.FIELDS if name in problems), None)
        if first is not None:
            self._fields[first].setFocus()

    def show_error(self, error: ApiError, *, role: str | None = None) -> None:
        """The API's refusal under the field it is about, which its words name as a path ("lead_fields/2/name: ..."),
        in quotes ("'allowed_origins': ...", "the agent's 'name'"), or as a lead field."""
        if error.status == 400 and not error.named_field:
            error = on_its_field(error, self.FIELDS)
        super().show_error(error, role=role)

    def first_error(self) -> QWidget | None:
        """The error line of the first field that shows one, to scroll to."""
        return next((self._errors[name] for name in self.FIELDS if not self._errors[name].isHidden()), None)

    def set_editable(self, editable: bool) -> None:
        """A viewer (or a cancelled workspace) reads the settings; the text stays selectable."""
        for box in (self.name, self.instructions, self.welcome_message, self.suggested_questions, self.fallback_text,
                    self.consent_text, self.allowed_origins, self.generator_url, self.generator_model):
            box.setReadOnly(not editable)
            box.setStyleSheet("" if editable else "background:#f4f5f7;")  # looks read-only, stays selectable
        for control in (self.answer_length, self.lead_capture, self.notify_on_lead, self.use_generator,
                        self.generator_timeout):
            control.setEnabled(editable)
        for composite in (self.threshold, self.colour, self.lead_fields):
            composite.set_editable(editable)
        if editable:
            self._generator_toggled(self.use_generator.isChecked())

    # --- internals ------------------------------------------------------------------------------------------

    def _generator_toggled(self, on: bool) -> None:
        for field in (self.generator_url, self.generator_model, self.generator_timeout):
            field.setVisible(on)

    def _connect_edits(self) -> None:
        for box in (self.instructions, self.welcome_message, self.suggested_questions, self.fallback_text,
                    self.consent_text, self.allowed_origins):
            box.textChanged.connect(self._edited)
        for line in (self.name, self.generator_url, self.generator_model):
            line.textEdited.connect(self._edited)
        for combo in (self.answer_length, self.lead_capture):
            combo.activated.connect(self._edited)
        for box in (self.notify_on_lead, self.use_generator):
            box.toggled.connect(self._edited)
        self.generator_timeout.valueChanged.connect(self._edited)
        for control in (self.threshold, self.colour, self.lead_fields):
            control.changed.connect(self._edited)

    def _edited(self, *_args) -> None:
        if not self.signalsBlocked():
            self.edited.emit()
