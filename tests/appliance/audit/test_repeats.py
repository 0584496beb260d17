"""Repeated refusals from one address: the first few written in full, the rest counted into one summary row when the
window closes; successes and other addresses untouched; the chain still verifies."""

from __future__ import annotations

from appliance.jobs.declared import prune_expired
from appliance.jobs.runs import JobRuns


def _refuse(services, times: int, *, address: str = "203.0.113.7", action: str = "api_key.refused") -> None:
    for n in range(times):
        services.audit.record(action, actor_type="api_key", actor_id=f"key{n:04d}", client_address=address,
                              outcome="denied", details={"reason": "unknown"})


def _rows(services, action: str) -> list:
    return services.audit.events(action=action, limit=10_000)


def test_only_the_first_refusals_of_a_window_are_written_and_the_rest_wait_for_their_summary(services, settings):
    _refuse(services, 250)

    assert len(_rows(services, "api_key.refused")) == settings.audit_repeats_kept
    assert services.audit.flush_repeats() == 0  # the window is still open


def test_the_summary_row_says_how_many_and_when_once_the_window_closes(services, settings, clock):
    _refuse(services, 4)
    clock.advance(minutes=1)
    _refuse(services, 246)
    clock.advance(minutes=settings.audit_repeats_window_minutes)

    assert services.audit.flush_repeats() == 1

    [summary] = _rows(services, "api_key.refused.repeated")
    assert summary.details["repeated"] == 250 - settings.audit_repeats_kept
    assert summary.client_address == "203.0.113.7" and summary.outcome == "denied"
    assert summary.details["sample_actor_ids"] == ["key0006", "key0007", "key0008", "key0009", "key0010"]
    assert services.audit.verify().ok


def test_a_new_window_writes_in_full_again_after_the_summary_of_the_last(services, settings, clock):
    _refuse(services, 30)
    clock.advance(minutes=settings.audit_repeats_window_minutes, seconds=1)
    _refuse(services, 1)

    assert len([e for e in _rows(services, "api_key.refused") if e.action == "api_key.refused"]) == \
        settings.audit_repeats_kept + 1
    assert _rows(services, "api_key.refused.repeated")[0].details["repeated"] == 30 - settings.audit_repeats_kept


def test_successes_other_addresses_and_other_actions_are_each_counted_apart(services, settings):
    _refuse(services, 50, address="203.0.113.7")
    _refuse(services, 3, address="198.51.100.2")
    _refuse(services, 3, action="auth.login")
    for _ in range(50):
        services.audit.record("auth.login", actor_type="user", actor_id="u1", client_address="203.0.113.7")

    by_address = {e.client_address for e in _rows(services, "api_key.refused")}
    assert by_address == {"203.0.113.7", "198.51.100.2"}
    assert len([e for e in _rows(services, "auth.login") if e.outcome == "success"]) == 50
    assert len([e for e in _rows(services, "auth.login") if e.outcome == "denied"]) == 3


def test_the_hourly_prune_job_writes_the_summaries_that_are_due(services, settings, clock):
    _refuse(services, 40)
    clock.advance(minutes=settings.audit_repeats_window_minutes)

    summary = prune_expired(services.appliance.control_db, sessions=services.sessions, tokens=services.tokens,
                            throttle=services.throttle, runs=JobRuns(services.appliance.control_db, clock=clock),
                            audit=services.audit)

    assert summary["refusal_summaries"] == 1
    assert _rows(services, "api_key.refused.repeated")[0].details["repeated"] == 40 - settings.audit_repeats_kept


def test_everything_still_open_is_summarised_when_the_server_stops(services, settings):
    _refuse(services, 12)

    assert services.audit.flush_repeats(everything=True) == 1
    assert _rows(services, "api_key.refused.repeated")[0].details["repeated"] == 12 - settings.audit_repeats_kept
