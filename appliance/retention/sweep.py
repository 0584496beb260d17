"""The retention sweep: each workspace's policy enforced in short batches, so chat keeps its latency while it runs,
then the write-ahead log checkpointed so the deleted text leaves the files."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import PurgeFailed
from appliance.retention import deletions
from appliance.retention.deletions import Cutoffs, zero_counts
from appliance.retention.policy import RetentionPolicies, RetentionPolicy
from appliance.storage import fts_merge
from appliance.storage.database import Database
from appliance.storage.workspace_files import WorkspaceDatabases

log = logging.getLogger(__name__)
# Messages due at which the sweep defers the index's deletions to full merges as it goes and at the end (see
# deletions.defer_index_deletes); below it, each deletion takes its words out of the index at once.
LARGE_PURGE_MESSAGES = 5_000


@dataclass(frozen=True)
class Pacing:
    """How a purge shares the database: at most `batch_rows` rows and about `batch_seconds` per write transaction
    (a chat reply waits for at most one), and a pause between transactions."""

    batch_rows: int = 200
    batch_seconds: float = 0.025
    pause_seconds: float = 0.005


class _Budget:
    """Rows for the next batch: fewer when a batch held the database longer than the pacing allows (deleting costs
    more as the full-text index grows), more again, up to the maximum, when it was quick."""

    MIN_ROWS = 10

    def __init__(self, pacing: Pacing) -> None:
        self._pacing = pacing
        self.rows = pacing.batch_rows

    def took(self, seconds: float) -> None:
        target, limit = self._pacing.batch_seconds, self._pacing.batch_rows
        if seconds > target:
            self.rows = max(min(self.MIN_ROWS, limit), int(self.rows * target / seconds))
        elif seconds < target / 2:
            self.rows = min(limit, max(self.rows + 1, int(self.rows * 1.5)))


@dataclass
class SweepReport:
    """What one sweep removed (or, dry, would remove) per workspace and kind; held workspaces are left alone."""

    dry_run: bool
    deleted: dict[str, dict[str, int]] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        totals = zero_counts()
        for counts in self.deleted.values():
            for kind, n in counts.items():
                totals[kind] += n
        return totals

    def summary(self) -> dict:
        return {"dry_run": self.dry_run, "totals": self.totals(), "deleted": self.deleted, "held": self.held,
                "failed": self.failed}


def describe(counts: dict[str, int], *, dry_run: bool) -> str:
    """A sentence for people: "3 conversations, 30 messages and 1 lead will be deleted"."""
    names = {"conversations": ("conversation", "conversations"), "messages": ("message", "messages"),
             "leads": ("lead", "leads"), "analytics_events": ("analytics event", "analytics events"),
             "visitor_addresses": ("visitor address", "visitor addresses"),
             "uploaded_originals": ("uploaded file", "uploaded files")}
    parts = [f"{n} {names[kind][n != 1]}" for kind, n in counts.items()
             if n and kind not in ("visitor_addresses", "uploaded_originals")]
    verb = "will be deleted" if dry_run else "were deleted"
    sentences = []
    if parts:
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        sentences.append(f"{listed} {verb}")
    if counts.get("visitor_addresses"):
        sentences.append(f"{counts['visitor_addresses']} visitor address"
                         f"{'es' if counts['visitor_addresses'] != 1 else ''} "
                         f"{'will be' if dry_run else 'were'} truncated or dropped")
    if counts.get("uploaded_originals"):
        n = counts["uploaded_originals"]
        sentences.append(f"{n} uploaded file{'s' if n != 1 else ''} {'will be' if dry_run else 'were'} removed "
                         "(their sources stay indexed)")
    return "; ".join(sentences) + "." if sentences else ("nothing will be deleted." if dry_run else
                                                          "nothing was deleted.")


class RetentionSweeper:
    def __init__(self, control_db: Database, *, files: WorkspaceDatabases, policies: RetentionPolicies,
                 audit: AuditLog, clock: Clock, pacing: Pacing = Pacing(),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._db = control_db
        self._files = files
        self._policies = policies
        self._audit = audit
        self._clock = clock
        self._pacing = pacing
        self._sleep = sleep

    def preview(self, workspace_id: str, policy: RetentionPolicy) -> dict[str, int]:
        """What `policy` would remove from the workspace now."""
        db = self._files.open(workspace_id)
        return deletions.count_due(db.connection, Cutoffs.of(policy, self._clock.now()))

    def sweep(self, *, dry_run: bool = False) -> SweepReport:
        """Enforce every workspace's policy (dry: count only), skipping workspaces on legal hold or being purged.

        A workspace that fails is reported and the others still swept; the failure is raised at the end."""
        report = SweepReport(dry_run=dry_run)
        # Every workspace, not only those with a policy: one whose large purge was cut short owes its index a merge
        # whatever its policy is now.
        rows = self._db.query("SELECT id, legal_hold_since FROM workspaces WHERE purge_started_at IS NULL ORDER BY id")
        policies = self._policies.all()
        for row in rows:
            policy = policies.get(row["id"]) or RetentionPolicy()
            try:
                if not dry_run:  # whatever the policy and hold now: the rows are gone, their words must go too
                    self._finish_cut_short_merge(row["id"])
                if policy.keeps_everything():
                    continue
                if row["legal_hold_since"]:
                    report.held.append(row["id"])
                    continue
                counts = self.sweep_workspace(row["id"], policy, dry_run=dry_run)
            except Exception as exc:  # one damaged or busy workspace must not keep the others from their sweep
                log.exception("retention sweep failed for a workspace", extra={"workspace_id": row["id"]})
                report.failed[row["id"]] = str(exc)
                continue
            if any(counts.values()):
                report.deleted[row["id"]] = counts
        if report.failed:
            raise PurgeFailed(f"the retention sweep failed for {len(report.failed)} workspace(s) "
                              f"({'; '.join(f'{w}: {m}' for w, m in report.failed.items())}); the others were swept: "
                              f"{report.totals()}")
        return report

    def sweep_workspace(self, workspace_id: str, policy: RetentionPolicy, *, dry_run: bool = False) -> dict[str, int]:
        """Remove what `policy` says is due in one workspace, batch by batch; dry: only count it."""
        db = self._files.open(workspace_id)
        cutoffs = Cutoffs.of(policy, self._clock.now())
        if dry_run:
            return deletions.count_due(db.connection, cutoffs)
        counts = zero_counts()
        if cutoffs.conversations:
            def conversations(conn, budget: int) -> int:
                done, messages = deletions.delete_conversations(conn, cutoffs.conversations, budget=budget)
                counts["conversations"] += done
                counts["messages"] += messages
                return done

            if deletions.messages_due(db.connection, cutoffs.conversations) >= LARGE_PURGE_MESSAGES:
                with db.transaction() as conn:
                    deletions.defer_index_deletes(conn, isoformat(self._clock.now()))
                try:
                    self._in_batches(db, conversations, between=self._merging_as_it_goes(db, counts))
                finally:
                    self._merge_deferred(db)
            else:
                self._in_batches(db, conversations)
        for kind, step in (
                ("leads", lambda conn, budget: deletions.delete_leads(conn, cutoffs.leads, budget=budget)),
                ("analytics_events", lambda conn, budget: deletions.delete_analytics_events(
                    conn, cutoffs.analytics_events, budget=budget)),
                ("visitor_addresses", lambda conn, budget: deletions.reduce_addresses(conn, cutoffs, budget=budget)),
                ("uploaded_originals", lambda conn, budget: deletions.drop_originals(conn,
                                                                                    cutoffs.uploaded_originals))):
            if getattr(cutoffs, kind):
                counts[kind] += self._in_batches(db, step)
        if any(counts.values()):
            # Fold the log into the file and empty it: the deleted text must not linger in the -wal.
            db.checkpoint()
            self._audit.record("retention.sweep", actor_type="system", target_type="workspace",
                               target_id=workspace_id, workspace_id=workspace_id,
                               details={"deleted": counts, "policy": policy.public()})
            log.info("retention sweep", extra={"workspace_id": workspace_id, **counts})
        return counts

    def _finish_cut_short_merge(self, workspace_id: str) -> None:
        """A large purge killed before its merge: finish the merge, so the deleted messages' words leave the index."""
        db = self._files.open(workspace_id)
        if deletions.index_merge_owed(db.connection):
            log.warning("finishing the index merge of a purge cut short", extra={"workspace_id": workspace_id})
            self._merge_deferred(db)
            db.checkpoint()

    def _merge_deferred(self, db: Database) -> None:
        """Deletions remove words at once again, then one full merge drops the words of every message deleted
        while they did not; the merge is no longer owed once it is done."""
        with db.transaction() as conn:
            deletions.secure_index_deletes(conn)
        self._merge_index(db)
        with db.transaction() as conn:
            deletions.index_merge_done(conn)

    def _merging_as_it_goes(self, db: Database, counts: dict[str, int]) -> Callable[[], None]:
        """A full merge each time the messages deleted since the last one reach half of those the index held then.

        A merge step writes a bounded number of pages, but it reads every deleted entry it passes over: were all of
        a million messages merged away at the end, its first step would read the whole index in one transaction.
        Merging at each halving keeps at least half of what a step reads worth writing (so it stays short), and
        costs about two rewrites of the index in all."""
        state = {"indexed": deletions.message_count(db.connection), "merged_at": 0}

        def between() -> None:
            deleted = counts["messages"] - state["merged_at"]
            if deleted >= max(LARGE_PURGE_MESSAGES, state["indexed"] // 2):
                self._merge_index(db)
                state["indexed"] -= deleted
                state["merged_at"] = counts["messages"]
        return between

    def _merge_index(self, db: Database) -> None:
        """Merge the message index in short steps (appliance/storage/fts_merge.py). Merging a deletion marker with
        the words it deletes drops both, and the pages they were on are freed (and zeroed: secure_delete is on)."""
        fts_merge.merge_fully(db, "messages_fts", after_step=lambda: self._pause(db))

    def _pause(self, db: Database) -> None:
        # Fold this batch's pages into the file now, on this thread: left in the log, they would be checkpointed
        # by whichever commit crosses the log's size limit next, most likely a chat reply's.
        db.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if self._pacing.pause_seconds:
            self._sleep(self._pacing.pause_seconds)

    def _in_batches(self, db: Database, step: Callable[..., int], *,
                    between: Callable[[], None] | None = None) -> int:
        """Run `step(conn, rows)` in its own write transaction until it does nothing, pausing between batches (and
        calling `between` there)."""
        total, budget = 0, _Budget(self._pacing)
        while True:
            # Elapsed time, not the injected clock: this paces the work, it decides nothing about the data.
            started = time.perf_counter()
            with db.transaction() as conn:
                done = step(conn, budget.rows)
            budget.took(time.perf_counter() - started)
            if not done:
                return total
            total += done
            if between is not None:
                between()
            self._pause(db)
