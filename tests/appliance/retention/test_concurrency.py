"""Many threads at once in one workspace, as a busy morning has them: visitors chatting, an admin deleting
conversations, the retention sweep purging old ones in small batches, and a backup, all through the real services
on one workspace file. Nothing is lost, nothing is seen half-written, and the backup verifies."""

from __future__ import annotations

import datetime as dt
import queue
import threading
import traceback

from appliance.errors import NotFound
from appliance.retention.service import sweep_retention
from tests.appliance.retention.places import PARKING, fill_conversations

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)
ASKERS, ASKS_EACH = 4, 15
OLD_CONVERSATIONS = 120


def test_chat_deletes_a_sweep_and_a_backup_at_once_lose_no_message_and_show_nothing_half_written(services, place):
    place.at(NOW)
    old = fill_conversations(place.db, place.agent.id, count=OLD_CONVERSATIONS, messages_each=4,
                             first=NOW - dt.timedelta(days=400), spacing=dt.timedelta(seconds=1))
    place.set_policy(conversations_days=30)
    records = services.conversations.records(place.workspace_id)
    asked: list = []
    to_delete: queue.Queue = queue.Queue()
    deleted: list[str] = []
    failures: list[str] = []
    backups = []
    torn: list[str] = []
    transcripts_read = [0]

    def guarded(work):
        def run():
            try:
                work()
            except BaseException:
                failures.append(traceback.format_exc())
        return run

    def visitor(number: int) -> None:
        for n in range(ASKS_EACH):
            exchange = place.ask(PARKING)
            asked.append(exchange)
            if n % 3 == number % 3:
                to_delete.put(exchange.conversation_id)

    def admin() -> None:
        while (conversation_id := to_delete.get()) is not None:
            records.delete(conversation_id)
            deleted.append(conversation_id)

    def reader() -> None:
        # A transcript read while everything else writes is always whole: every question has its reply.
        while not stop.is_set():
            for summary in records.list(limit=50).items:
                try:
                    roles = [m.role for m in records.get(summary.id).messages]
                except NotFound:
                    continue  # deleted since it was listed
                transcripts_read[0] += 1
                if roles.count("visitor") != roles.count("agent"):
                    torn.append(f"{summary.id}: {roles}")

    stop = threading.Event()
    threads = [threading.Thread(target=guarded(lambda n=n: visitor(n))) for n in range(ASKERS)]
    threads += [threading.Thread(target=guarded(lambda: sweep_retention(services.retention))),
                threading.Thread(target=guarded(lambda: backups.append(services.backups.create())))]
    background = [threading.Thread(target=guarded(admin)), threading.Thread(target=guarded(reader))]
    for thread in threads + background:
        thread.start()
    for thread in threads:
        thread.join(120)
    to_delete.put(None)
    stop.set()
    for thread in background:
        thread.join(120)

    assert failures == []
    assert torn == [] and transcripts_read[0] > 0
    assert len(asked) == ASKERS * ASKS_EACH and len(deleted) == ASKERS * ASKS_EACH // 3
    kept = [e for e in asked if e.conversation_id not in set(deleted)]
    for exchange in kept:
        rows = place.db.query("SELECT id, role FROM messages WHERE conversation_id = ? ORDER BY id",
                              (exchange.conversation_id,))
        assert [(r["id"], r["role"]) for r in rows] == [(exchange.visitor_message_id, "visitor"),
                                                       (exchange.message_id, "agent")]
        assert place.count("message_sources", "message_id = ?", (exchange.message_id,)) == len(
            exchange.reply.citations) > 0
    gone = deleted + old
    marks = ",".join("?" * len(gone))
    assert place.count("conversations", f"id IN ({marks})", gone) == 0
    assert place.count("messages", f"conversation_id IN ({marks})", gone) == 0
    assert place.count("conversations") == len(kept)
    assert place.count("messages") == 2 * len(kept)
    assert place.count("analytics_events", "kind = 'question'") >= len(kept)
    [backup] = backups
    assert backup.status == "complete"
    assert services.backups.verify(backup.id).verification_status == "passed"

