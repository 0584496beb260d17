"""Playground (per workspace): pick an agent and ask it as a visitor would; each reply shows how it was found, how
sure the agent was and the passages it cites; follow-ups continue the conversation until "New conversation"; a
fallback can be answered on the spot ("Answer this…"), which makes it a Q&A pair the agent answers from once live."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton

from gui.client.errors import ApiError
from gui.views.page import Page
from gui.views.playground_transcript import MUTED, QuestionBubble, ReplyBubble, Transcript
from gui.views.source_watch import IndexingWatch
from gui.views.written_answers import PANEL_SOURCE, AnswerDialog
from gui.widgets.banner import Banner
from gui.widgets.buttons import action_button

MAX_QUESTION_CHARS = 2000  # the appliance's limit (appliance/conversations/chat.py)
SUGGESTIONS_SHOWN = 3

READ_ONLY = ("This workspace is cancelled and read-only: its agents answer no questions until the owner undoes "
             "the cancellation (Workspaces).")


class PlaygroundPage(Page):
    title = "Playground"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.agents: list[dict] = []
        self.conversation_id: str | None = None
        self.asked = 0  # questions answered in this conversation
        self.answer_dialog: AnswerDialog | None = None
        self._asking = False
        self._generation = 0  # a reply to a conversation left meanwhile is not shown in the new one
        self._pending_answers: list[tuple[str, ReplyBubble | None]] = []  # saved, not yet live
        self.add_intro("Ask an agent questions as a visitor would, and see what it answers, how it found the answer "
                       "and what it cites. Conversations held here are kept like any other, under Conversations.")
        self.add_read_only_notice(READ_ONLY)
        self.training_notice = Banner(self)
        self.body.addWidget(self.training_notice)

        top = QHBoxLayout()
        top.addWidget(QLabel("Agent:"))
        self.agent_choice = QComboBox()
        self.agent_choice.setObjectName("agentChoice")
        self.agent_choice.setMinimumWidth(260)
        self.agent_choice.currentIndexChanged.connect(self._agent_changed)
        top.addWidget(self.agent_choice)
        self.conversation_label = QLabel()
        self.conversation_label.setObjectName("conversationLabel")
        self.conversation_label.setStyleSheet(MUTED)
        top.addWidget(self.conversation_label, 1)
        self.new_button = action_button("New conversation", self.new_conversation_action, name="newConversation",
                                        row=top)
        self.body.addLayout(top)

        self.empty = QLabel()
        self.empty.setObjectName("emptyState")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet(MUTED)
        self.empty.hide()
        self.body.addWidget(self.empty)
        self.transcript = Transcript(self)
        self.body.addWidget(self.transcript, 1)
        self.body.addStretch(0)  # takes the room only while the transcript is hidden

        self.suggestions_row = QHBoxLayout()
        self.suggestions_label = QLabel("Try:")
        self.suggestions_label.setStyleSheet(MUTED)
        self.suggestions_row.addWidget(self.suggestions_label)
        self.suggestions: list[QPushButton] = []
        for _ in range(SUGGESTIONS_SHOWN):
            button = QPushButton()
            button.setObjectName("suggestedQuestion")
            button.clicked.connect(lambda _=False, b=button: self.ask_action(b.text()))
            self.suggestions.append(button)
            self.suggestions_row.addWidget(button)
        self.suggestions_row.addStretch(1)
        self.body.addLayout(self.suggestions_row)

        ask_row = QHBoxLayout()
        self.question = QLineEdit()
        self.question.setObjectName("question")
        self.question.setMaxLength(MAX_QUESTION_CHARS)
        self.question.setPlaceholderText("Ask a question as a visitor would, then press Enter")
        self.question.returnPressed.connect(lambda: self.ask_action())
        ask_row.addWidget(self.question, 1)
        self.ask_button = action_button("Ask", lambda: self.ask_action(), name="ask", row=ask_row)
        self.body.addLayout(ask_row)

        self.watch = IndexingWatch(self)
        self.watch.live.connect(self._answers_live)
        self.watch.failed.connect(self._answers_failed)
        self.watch.lost.connect(self.show_error)
        self._start_conversation()

    # --- what the caller may do -------------------------------------------------------------------------------

    def may_ask(self) -> bool:
        return not self.read_only and self.context.may(self.workspace_id, "agents.ask")

    def may_answer(self) -> bool:
        return not self.read_only and self.context.may(self.workspace_id, "sources.write")

    def agent(self) -> dict | None:
        agent_id = self.agent_choice.currentData()
        return next((a for a in self.agents if a["id"] == agent_id), None)

    def _update_controls(self) -> None:
        ask = self.may_ask() and self.agent() is not None
        self.question.setEnabled(ask)
        self.ask_button.setEnabled(ask and not self._asking)
        self.agent_choice.setEnabled(bool(self.agents))
        self.new_button.setEnabled(self.conversation_id is not None or bool(self.transcript.messages()))
        agent = self.agent()
        offered = (agent or {}).get("suggested_questions", [])[:SUGGESTIONS_SHOWN] if ask and not self.asked else []
        for button, question in zip(self.suggestions, offered + [""] * SUGGESTIONS_SHOWN, strict=False):
            button.setText(question)
            button.setVisible(bool(question))
            button.setEnabled(not self._asking)
        self.suggestions_label.setVisible(bool(offered))
        if self.conversation_id is None:
            self.conversation_label.setText("New conversation")
            self.conversation_label.setToolTip("")
        else:
            self.conversation_label.setText(f"Conversation {self.conversation_id[:8]}… · {self.asked} question"
                                            f"{'' if self.asked == 1 else 's'}")
            self.conversation_label.setToolTip(f"Conversation {self.conversation_id}: follow-up questions continue "
                                               "it, as a visitor's do in the widget.")

    # --- loading ----------------------------------------------------------------------------------------------

    def refresh_action(self) -> None:
        self.clear_message_unless_kept()
        self.update_read_only_notice()
        base = f"/api/v1/workspaces/{self.workspace_id}"
        self.api.get_all(f"{base}/agents", "agents", on_done=self._got_agents, on_error=self.show_error)
        self.api.get_all(f"{base}/sources", "sources", on_done=self._got_sources,
                         on_error=lambda e: self.training_notice.hide())  # only a hint: asking works without it
        if self.watch.watching:
            self.watch.check()

    def _got_agents(self, agents: list[dict]) -> None:
        kept = self.agent_choice.currentData()
        self.agents = sorted(agents, key=lambda a: a["name"].casefold())
        self.agent_choice.blockSignals(True)
        self.agent_choice.clear()
        for agent in self.agents:
            self.agent_choice.addItem(agent["name"], agent["id"])
        found = self.agent_choice.findData(kept) if kept else -1
        self.agent_choice.setCurrentIndex(found if found >= 0 else 0 if self.agents else -1)
        self.agent_choice.blockSignals(False)
        if kept is None or found < 0 or not self.transcript.messages():
            # The agent it was with is gone (or none was chosen yet), or nothing was asked: start afresh, with what
            # the API says of the agent and the workspace now.
            self._start_conversation()
        self.empty.setVisible(not self.agents)
        self.transcript.setVisible(bool(self.agents))
        if not self.agents:
            self.empty.setText(
                "No agents in this workspace yet. The Playground asks an agent questions as a visitor would. "
                + ("Create the first agent on the Agents screen (under this workspace in the navigation), then "
                   "come back here to try it." if self.context.may(self.workspace_id, "agents.write") else
                   "An editor, an admin or the owner can create one on the Agents screen."))
        self._update_controls()

    def _got_sources(self, sources: list[dict]) -> None:
        ready = [s for s in sources if s["status"] == "ready"]
        busy = [s for s in sources if s["status"] in ("queued", "indexing")]
        if not sources:
            self.training_notice.show_message(
                "This workspace has no training data yet, so every question falls back. Add documents, pages or "
                "Q&A pairs on the Training data screen.", kind="warning")
        elif busy:
            waiting = ", ".join(s["title"] for s in busy[:3]) + (" and more" if len(busy) > 3 else "")
            self.training_notice.show_message(
                f"Still being indexed: {waiting}. The agents answer from {'them' if len(busy) > 1 else 'it'} once "
                "ready" + ("." if ready else "; until then every question falls back."), kind="info")
        else:
            self.training_notice.hide()

    # --- the conversation -------------------------------------------------------------------------------------

    def _agent_changed(self) -> None:
        self._start_conversation()

    def new_conversation_action(self) -> None:
        self._start_conversation()
        self.question.setFocus()

    def _start_conversation(self) -> None:
        """Forget the conversation on screen (it stays on the appliance); the next question starts another."""
        self._generation += 1
        self._asking = False
        self.conversation_id = None
        self.asked = 0
        self._pending_answers = [(question, None) for question, _ in self._pending_answers]
        agent = self.agent()
        if agent is None:
            self.transcript.clear("")
        elif not self.may_ask():
            self.transcript.clear(f"{agent['name']} cannot be asked here: this workspace is read-only.")
        else:
            welcome = agent.get("welcome_message") or ""
            self.transcript.clear(f"Ask {agent['name']} a question to start a conversation."
                                  + (f"\n\nIts widget greets visitors with: “{welcome}”" if welcome else ""))
        self._update_controls()

    def ask_action(self, question: str | None = None) -> None:
        """Ask the chosen agent `question`, or what the question box holds, in this conversation."""
        typed = question is None
        question = (self.question.text() if typed else question).strip()
        agent = self.agent()
        if not question or agent is None or self._asking or not self.may_ask():
            return
        if typed:
            self.question.clear()
        self._asking = True
        generation = self._generation
        bubble = self.transcript.add_question(question)
        body = {"question": question, **({"conversation_id": self.conversation_id} if self.conversation_id else {})}
        self.api.post(f"/api/v1/workspaces/{self.workspace_id}/agents/{agent['id']}/ask", body,
                      on_done=lambda a: self._answered(generation, agent, question, a),
                      on_error=lambda e: self._not_answered(generation, bubble, question, e))
        self._update_controls()

    def _answered(self, generation: int, agent: dict, question: str, answer: dict) -> None:
        if generation != self._generation:
            return
        self._asking = False
        self.conversation_id = answer["conversation_id"]
        self.asked += 1
        self.transcript.add_reply(answer, threshold=float(agent.get("confidence_threshold", 0.45)),
                                  on_answer=(lambda bubble: self.answer_action(question, bubble))
                                  if self.may_answer() else None)
        self._update_controls()

    def _not_answered(self, generation: int, bubble: QuestionBubble, question: str, error: ApiError) -> None:
        if generation != self._generation:
            return
        self._asking = False
        self.transcript.stop_thinking()
        bubble.mark_unanswered("Not answered: see the message above.")
        if not self.question.text():
            self.question.setText(question)  # to ask again as it was
        if error.status == 404 and self.conversation_id:
            # The conversation was deleted meanwhile (by someone, or by retention): the next question starts anew.
            self.conversation_id = None
            self.asked = 0
            self.banner.show_message("This conversation no longer exists on the appliance (it was deleted). Ask "
                                     "again to start a new one.", kind="error")
        else:
            self.show_error(error)
            if error.status in (403, 404, 409):
                # The agent was deleted, or the role or the workspace changed meanwhile: /me again (the window then
                # refreshes this page, which follows what the API says now).
                self.reload_keeping_message()
        self._update_controls()

    # --- "Answer this…" ---------------------------------------------------------------------------------------

    def answer_action(self, question: str, bubble: ReplyBubble | None = None) -> None:
        if not self.may_answer():
            return
        agent = self.agent()
        self.answer_dialog = AnswerDialog(self, question, who=agent["name"] if agent else "the agent")
        self.answer_dialog.saved.connect(lambda asked, source: self._answer_saved(asked, source, bubble))
        self.answer_dialog.finished.connect(self.answer_dialog.deleteLater)
        self.answer_dialog.open()

    def _answer_saved(self, question: str, source: dict, bubble: ReplyBubble | None) -> None:
        if bubble is not None:
            bubble.mark_answered("Answer saved, indexing…")
        self._pending_answers.append((question, bubble))
        self.show_notice(f"Saved as a Q&A pair in “{PANEL_SOURCE}”. The appliance is indexing it; this "
                         "says so when the answer is live.")
        self.watch.watch(source)

    def _answers_live(self, source: dict) -> None:
        questions = [question for question, _ in self._pending_answers]
        for _, bubble in self._pending_answers:
            if bubble is not None:
                bubble.mark_answered("Answer live")
        self._pending_answers = []
        asked = "; ".join(f"“{q}”" for q in questions)
        gets = "gets the answer" if len(questions) == 1 else "get the answers"
        self.show_notice(f"The answer is live: {asked} now {gets} you wrote, here and in the widget. "
                         f"Ask again to see it. (Source “{source['title']}”, on the Training data screen.)")

    def _answers_failed(self, source: dict) -> None:
        for _, bubble in self._pending_answers:
            if bubble is not None:
                bubble.mark_answered("Answer this…", settled=False)
        self._pending_answers = []
        self.banner.show_message(f"The answer was saved, but “{source['title']}” could not be indexed: "
                                 f"{source.get('error') or 'no reason given'}. See it on the Training data screen.",
                                 kind="error")
