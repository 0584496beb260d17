"""Retention as workspace admins use it: the policy, a preview of what a proposed one deletes, applying it (audited
with before and after), the legal hold; and the hourly sweep as a job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import ValidationError
from appliance.retention.policy import LegalHold, RetentionPolicies, RetentionPolicy
from appliance.retention.sweep import RetentionSweeper, SweepReport, describe
from appliance.storage.database import Database


@dataclass(frozen=True)
class Actor:
    """Who acts, as the audit log names them."""

    type: str
    id: str | None
    client_address: str | None = None


@dataclass(frozen=True)
class Retention:
    policy: RetentionPolicy
    legal_hold: LegalHold | None

    def public(self) -> dict:
        return {"policy": self.policy.public(), "legal_hold": self.legal_hold.public() if self.legal_hold else None}


@dataclass(frozen=True)
class Preview:
    policy: RetentionPolicy
    counts: dict[str, int]
    legal_hold: LegalHold | None

    def public(self) -> dict:
        summary = describe(self.counts, dry_run=True)
        if self.legal_hold:
            summary = f"The workspace is on legal hold: nothing is deleted until it is lifted. Then: {summary}"
        else:
            summary = summary[0].upper() + summary[1:]
        return {"policy": self.policy.public(), "would_delete": self.counts, "summary": summary,
                "legal_hold": self.legal_hold is not None}


class RetentionService:
    def __init__(self, db: Database, *, policies: RetentionPolicies, sweeper: RetentionSweeper, audit: AuditLog,
                 clock: Clock) -> None:
        self._db = db
        self._policies = policies
        self._sweeper = sweeper
        self._audit = audit
        self._clock = clock

    @property
    def sweeper(self) -> RetentionSweeper:
        return self._sweeper

    def get(self, workspace_id: str) -> Retention:
        return Retention(self._policies.get(workspace_id), self._policies.hold(workspace_id))

    def preview(self, workspace_id: str, proposed: Any) -> Preview:
        """What the proposed policy would delete if it applied now (nothing is changed)."""
        policy = RetentionPolicy.from_json(proposed)
        hold = self._policies.hold(workspace_id)
        return Preview(policy, self._sweeper.preview(workspace_id, policy), hold)

    def apply(self, workspace_id: str, proposed: Any, *, actor: Actor) -> Retention:
        """Store the policy; the next sweep deletes what it makes due. Audited with the policy before and after."""
        policy = RetentionPolicy.from_json(proposed)
        with self._db.transaction() as conn:
            before = self._policies.put(conn, workspace_id, policy, at=isoformat(self._clock.now()), by=actor.id)
            self._audit.record("retention.update", actor_type=actor.type, actor_id=actor.id,
                               target_type="workspace", target_id=workspace_id, workspace_id=workspace_id,
                               client_address=actor.client_address,
                               details={"before": before.public(), "after": policy.public()}, conn=conn)
        return self.get(workspace_id)

    def set_legal_hold(self, workspace_id: str, *, on: Any, reason: Any = None, actor: Actor) -> Retention:
        """Put the workspace on legal hold, which suspends every purge of it, or lift the hold."""
        if not isinstance(on, bool):
            raise ValidationError("'on' is true (put the workspace on legal hold) or false (lift the hold)")
        with self._db.transaction() as conn:
            before = self._policies.set_hold(conn, workspace_id, on=on, reason=reason,
                                             at=isoformat(self._clock.now()))
            self._audit.record("retention.legal_hold", actor_type=actor.type, actor_id=actor.id,
                               target_type="workspace", target_id=workspace_id, workspace_id=workspace_id,
                               client_address=actor.client_address,
                               details={"on": on, "was_on": before is not None,
                                        **({"reason": reason} if on and reason else {})}, conn=conn)
        return self.get(workspace_id)

    def sweep(self, *, dry_run: bool = False) -> SweepReport:
        return self._sweeper.sweep(dry_run=dry_run)


def sweep_retention(retention: RetentionService, *, dry_run: bool = False) -> dict:
    """The hourly job: enforce every workspace's retention policy; dry, report what would go."""
    return retention.sweep(dry_run=dry_run).summary()
