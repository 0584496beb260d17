"""What the Conversations screen's tests share: the inbox opened once its agents are listed, and the conversation
ids it shows."""

from __future__ import annotations

from gui.views.conversations import ConversationsPage
from tests.gui.driving import open_page
from tests.gui.widget_visitors import Site


def shown_ids(page: ConversationsPage) -> list[str]:
    return [c["id"] for c in page.conversations.records()]


def inbox(qtbot, window, site: Site) -> ConversationsPage:
    return open_page(qtbot, window, f"conversations:{site.workspace_id}",
                     ready=lambda p: p.filters.agent.count() > 1)
