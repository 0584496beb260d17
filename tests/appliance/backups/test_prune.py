"""Retention of backups: the newest `backup_keep` stay, and the newest verified one is never deleted."""

from __future__ import annotations

from appliance.backups.service import BackupService
from tests.appliance.backups.conftest import failed_backup


def test_prune_keeps_the_newest_and_the_newest_verified_backup(services, chats, clock):
    backups = BackupService(services.appliance, audit=services.audit, directory=services.backups.directory, keep=2)
    made = []
    for _ in range(4):
        made.append(backups.create())
        clock.advance(days=1)
    backups.verify(made[0].id)  # only the oldest passed a verification

    result = backups.prune()

    assert result.deleted == [made[1].id]
    assert set(result.kept) == {made[0].id, made[2].id, made[3].id}
    assert {b.id for b in backups.list()} == set(result.kept)
    assert not backups.path_of(made[1]).exists() and all(backups.path_of(b).exists() for b in backups.list())
    event = services.audit.events(action="backup.prune")[-1]
    assert event.details["deleted"] == [made[1].id]
    assert backups.prune().deleted == []  # a second run deletes nothing more


def test_of_backups_made_in_the_same_second_the_later_one_is_the_newest(services, chats, clock):
    """Times are kept to the second: several backups within one (say, from a script) still keep their order."""
    backups = BackupService(services.appliance, audit=services.audit, directory=services.backups.directory, keep=1)
    made = [backups.create() for _ in range(4)]  # the clock stands still

    assert [b.id for b in backups.list()] == [b.id for b in reversed(made)]
    assert backups.prune().deleted == [b.id for b in reversed(made[:3])]
    assert [b.id for b in backups.list()] == [made[3].id]


def test_prune_drops_failures_older_than_the_newest_complete_backup(services, chats, clock):
    backups = services.backups
    failed_backup(services)
    clock.advance(hours=1)
    kept = backups.create()

    backups.prune()

    assert [(b.id, b.status) for b in backups.list()] == [(kept.id, "complete")]


def test_the_shipped_default_keeps_two_weeks_of_daily_backups(settings, services):
    assert settings.backup_keep == 14 and services.backups.keep == 14
