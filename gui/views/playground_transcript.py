"""The Playground's chat transcript: each question on the right, each reply on the left with how it was found (the
method, named for people), how sure the agent was, the passages it cites, and, on a fallback, "Answer this"."""

from __future__ import annotations

import html
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

# The reply's method (appliance/agent/answer.py, Reply.method) as the screen names it, and what it means.
METHODS = {
    "qa": ("Q&A", "A Q&A pair's answer, word for word as it was written."),
    "extractive": ("extractive", "Sentences quoted from the cited passages of the training data."),
    "generated": ("generated", "The agent's language model worded the answer from the cited passages."),
    "fallback": ("fallback", "Nothing in the training data answered this well enough: the agent said so instead."),
    "handoff": ("handoff", "The visitor asked for a person: the agent offered the lead form."),
}
HIGH_CONFIDENCE = 0.8
PASSAGE_PREVIEW = 280  # characters of a cited passage shown before "Show all"
MUTED = "color:#5f6b7a;"


def method_name(method: str) -> str:
    return METHODS.get(method, (method, ""))[0]


def confidence_word(confidence: float, threshold: float) -> str:
    """How sure the agent was, in a word: low below the agent's threshold (where it falls back), high from
    HIGH_CONFIDENCE, medium between."""
    if confidence < threshold:
        return "low"
    return "high" if confidence >= HIGH_CONFIDENCE else "medium"


def _label(text: str = "", *, style: str = "", rich: bool = False, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction if rich else
                                  Qt.TextInteractionFlag.TextSelectableByMouse)
    if style:
        label.setStyleSheet(style)
    return label


class CitationView(QFrame):
    """One cited passage: its source's title and heading path, its address as a link when it has one, and the
    passage (the first PASSAGE_PREVIEW characters until "Show all")."""

    def __init__(self, source: dict, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("citation")
        self.setStyleSheet("QFrame#citation { border-left: 3px solid #b6c8da; }")
        self.source = source
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 2, 4, 2)
        layout.setSpacing(2)
        heading = f" › {source['heading_path']}" if source.get("heading_path") else ""
        self.title = _label(f"<b>{html.escape(source.get('title') or 'Untitled source')}</b>"
                            f"<span style='{MUTED}'>{html.escape(heading)}</span>", rich=True)
        layout.addWidget(self.title)
        url = source.get("url")
        self.link = _label(f"<a href='{html.escape(url, quote=True)}'>{html.escape(url)}</a>", rich=True) if url \
            else None
        if self.link is not None:
            self.link.setOpenExternalLinks(True)
            layout.addWidget(self.link)
        # A Q&A pair's passage keeps its two lines ("Q: …", "A: …"); a document's runs on.
        self.whole = "\n".join(" ".join(line.split()) for line in (source.get("passage") or "").splitlines()
                               if line.strip())
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.passage = _label(style=f"{MUTED}font-size:12px;")
        row.addWidget(self.passage, 1)
        self.more = QPushButton("Show all")
        self.more.setFlat(True)
        self.more.setStyleSheet("color:#1a5fa8;font-size:12px;")
        self.more.clicked.connect(self.toggle_action)
        self.more.setVisible(len(self.whole) > PASSAGE_PREVIEW)
        row.addWidget(self.more, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(row)
        self._expanded = False
        self._show_passage()

    def toggle_action(self) -> None:
        self._expanded = not self._expanded
        self._show_passage()

    def _show_passage(self) -> None:
        cut = len(self.whole) > PASSAGE_PREVIEW and not self._expanded
        self.passage.setText(self.whole[:PASSAGE_PREVIEW].rstrip() + "…" if cut else self.whole)
        self.more.setText("Show less" if self._expanded else "Show all")


class _Bubble(QFrame):
    def __init__(self, style: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("bubble")
        self.setStyleSheet(f"QFrame#bubble {{ {style} border-radius: 8px; }}")
        self.column = QVBoxLayout(self)
        self.column.setContentsMargins(12, 8, 12, 8)
        self.column.setSpacing(6)

    def natural_width(self) -> int:
        """How wide the bubble would be with no line wrapped: a short message gets a bubble its size, a long one
        the transcript's limit."""
        wrapped = [label for label in self.findChildren(QLabel) if label.wordWrap()]
        for label in wrapped:
            label.setWordWrap(False)
        self.column.invalidate()
        width = self.column.sizeHint().width()
        for label in wrapped:
            label.setWordWrap(True)
        self.column.invalidate()
        return width + 2


class QuestionBubble(_Bubble):
    """What was asked, as the visitor would have typed it."""

    def __init__(self, question: str, parent: QWidget | None = None) -> None:
        super().__init__("background:#dbe7f3; border: 1px solid #c3d6ea;", parent)
        self.question = question
        self.text = _label(question)
        self.column.addWidget(self.text)
        self.status = _label(style="color:#b3261e;font-size:11px;")
        self.status.hide()
        self.column.addWidget(self.status)

    def mark_unanswered(self, why: str) -> None:
        self.status.setText(why)
        self.status.show()


class ReplyBubble(_Bubble):
    """The agent's reply: its text, then the method, the confidence, "Answer this" on a fallback, and the
    citations."""

    def __init__(self, reply: dict, *, threshold: float, on_answer: Callable[[ReplyBubble], None] | None,
                 parent: QWidget | None = None) -> None:
        fell_back = reply["method"] == "fallback"
        super().__init__("background:#fff8e6; border: 1px solid #f0dca8;" if fell_back else
                         "background:#ffffff; border: 1px solid #dde2e7;", parent)
        self.reply = reply
        self.text = _label(reply["reply"])
        self.column.addWidget(self.text)
        meta = QHBoxLayout()
        meta.setSpacing(14)
        name, meaning = METHODS.get(reply["method"], (reply["method"], ""))
        self.method = _label(f"Method: {name}", style=f"{MUTED}font-size:12px;", wrap=False)
        self.method.setToolTip(meaning)
        meta.addWidget(self.method)
        confidence = float(reply.get("confidence") or 0.0)
        word = confidence_word(confidence, threshold)
        self.confidence = _label(f"Confidence: {confidence:.2f} ({word})", style=f"{MUTED}font-size:12px;",
                                 wrap=False)
        self.confidence.setToolTip(f"How much of the question the best passage covers, 0 to 1. Below this agent's "
                                   f"threshold ({threshold:.2f}) it falls back.")
        self.confidence.setVisible(reply["method"] != "handoff")
        meta.addWidget(self.confidence)
        meta.addStretch(1)
        self.answer_button: QPushButton | None = None
        if fell_back:
            self.answer_button = QPushButton("Answer this…")
            self.answer_button.setObjectName("answerThis")
            self.answer_button.setToolTip("Write the answer: it is saved as a Q&A pair the agent answers from.")
            if on_answer is None:
                self.answer_button.setEnabled(False)
                self.answer_button.setToolTip("Adding answers needs a role that may change the training data "
                                              "(editor or above), in a workspace that is not cancelled.")
            else:
                self.answer_button.clicked.connect(lambda: on_answer(self))
            meta.addWidget(self.answer_button)
        self.column.addLayout(meta)
        self.lead_form = _label("The widget would offer its lead form with this reply.",
                                style=f"{MUTED}font-size:12px;")
        self.lead_form.setVisible(bool(reply.get("offer_lead_form")))
        self.column.addWidget(self.lead_form)
        self.citations = [CitationView(source) for source in reply.get("sources", [])]
        if self.citations:
            self.column.addWidget(_label(f"Sources ({len(self.citations)})", style="font-weight:600;font-size:12px;"))
        for view in self.citations:
            self.column.addWidget(view)

    def mark_answered(self, text: str, *, settled: bool = True) -> None:
        """What became of the answer written for this fallback ("Answer saved", "Answer live"); while `settled`, the
        button cannot be clicked again."""
        if self.answer_button is not None:
            self.answer_button.setText(text)
            self.answer_button.setEnabled(not settled)


class _Row(QWidget):
    """One message across the transcript: its bubble on the side of who said it, the rest left empty."""

    def __init__(self, bubble: _Bubble, *, right: bool) -> None:
        super().__init__()
        self.bubble = bubble
        self.natural = bubble.natural_width()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        if right:
            row.addStretch(1)
        row.addWidget(bubble)
        if not right:
            row.addStretch(1)

    def fit(self, limit: int) -> None:
        self.bubble.setFixedWidth(min(self.natural, limit))


class Transcript(QScrollArea):
    """The conversation so far, newest at the bottom; it scrolls to each new message."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transcript")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        holder = QWidget()
        holder.setObjectName("transcriptBody")
        holder.setStyleSheet("QWidget#transcriptBody { background:#f4f6f8; }")
        self._column = QVBoxLayout(holder)
        self._column.setContentsMargins(14, 14, 14, 14)
        self._column.setSpacing(10)
        self._column.addStretch(1)
        self.setWidget(holder)
        self.placeholder = _label(style=f"{MUTED}padding:20px;")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._column.insertWidget(0, self.placeholder)
        self.thinking = _label("The agent is answering…", style=f"{MUTED}font-style:italic;")
        self.thinking.hide()
        self._column.insertWidget(1, self.thinking)
        # Follow the conversation to its newest message, once the layout has made room for it; stop following
        # when the admin opens a passage higher up.
        self._follow = False
        self.verticalScrollBar().rangeChanged.connect(self._range_changed)

    def _rows(self) -> list[_Row]:
        return [self._column.itemAt(i).widget() for i in range(self._column.count())
                if isinstance(self._column.itemAt(i).widget(), _Row)]

    def messages(self) -> list[_Bubble]:
        return [row.bubble for row in self._rows()]

    def replies(self) -> list[ReplyBubble]:
        return [m for m in self.messages() if isinstance(m, ReplyBubble)]

    def questions(self) -> list[QuestionBubble]:
        return [m for m in self.messages() if isinstance(m, QuestionBubble)]

    def clear(self, placeholder: str) -> None:
        for row in self._rows():
            self._column.removeWidget(row)
            row.deleteLater()
        self.thinking.hide()
        self.placeholder.setText(placeholder)
        self.placeholder.setVisible(bool(placeholder))

    def add_question(self, question: str) -> QuestionBubble:
        bubble = QuestionBubble(question)
        self._add(_Row(bubble, right=True))
        self.thinking.show()
        self._move_thinking_last()
        return bubble

    def add_reply(self, reply: dict, *, threshold: float,
                  on_answer: Callable[[ReplyBubble], None] | None) -> ReplyBubble:
        """The reply; on a fallback, "Answer this…" calls `on_answer(bubble)`, or is disabled when it is None."""
        self.thinking.hide()
        bubble = ReplyBubble(reply, threshold=threshold, on_answer=on_answer)
        for view in bubble.citations:
            view.more.clicked.connect(self._stop_following)
        self._add(_Row(bubble, right=False))
        return bubble

    def stop_thinking(self) -> None:
        self.thinking.hide()

    def _limit(self) -> int:
        # Bubbles take most of the width, not all: which side a message sits on says who said it.
        return max(420, int((self.viewport().width() - 28) * 0.8))

    def _add(self, row: _Row) -> None:
        self.placeholder.hide()
        row.fit(self._limit())
        self._column.insertWidget(self._column.count() - 1, row)
        self._follow = True

    def _move_thinking_last(self) -> None:
        self._column.removeWidget(self.thinking)
        self._column.insertWidget(self._column.count() - 1, self.thinking)

    def _range_changed(self, _low: int, high: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(high)

    def _stop_following(self) -> None:
        self._follow = False

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        for row in self._rows():
            row.fit(self._limit())
