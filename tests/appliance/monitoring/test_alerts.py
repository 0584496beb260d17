"""Security alerts from real triggers, each opened once, audited, mailed once to every operator through a real
STARTTLS relay (aiosmtpd), shown while open, and closed by itself when its cause is gone; over the hourly limit an
alert is still opened and shown, not mailed."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.errors import AuthenticationFailed, TooManyAttempts
from appliance.jobs.runner import JobRunner
from appliance.mail.outbox import send_outbox
from appliance.monitoring import facts
from tests.appliance.mail.smtp_server import starttls_relay

PASSWORD = "a long enough passphrase for tests"
OPERATORS = ("olga@example.com", "omar@example.com")


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    with starttls_relay(tmp_path_factory.mktemp("relay")) as found:
        yield found


@pytest.fixture
def settings(settings, relay):
    server, ca_file = relay
    return settings.replace(smtp_host=server.host, smtp_port=server.port, smtp_security="starttls",
                            smtp_ca_file=ca_file)


@pytest.fixture
def operators(services):
    return [services.users.create_operator(email=email, password=PASSWORD) for email in OPERATORS]


def check(services) -> dict:
    """Run the alerts job and deliver the mail it queued."""
    summary = services.alerts.check()
    send_outbox(services.outbox)
    return summary


def alert_mails(relay, kind_words: str) -> list:
    server, _ = relay
    # A long subject is folded onto the header's next line; unfolded, it keeps the fold's space.
    return [r for r in server.received if r.message["Subject"].strip().startswith("ChatSpark security alert")
            and kind_words in r.message["Subject"]]


def run_job(services, job_id: str):
    spec = next(job for job in services.jobs if job.id == job_id)
    runner = JobRunner(services.appliance.control_db, clock=services.appliance.clock, outbox=services.outbox)
    try:
        return runner.run(spec, "manual")
    finally:
        runner.close()


def opened(services, kind: str) -> list:
    return [a for a in services.alerts.open_alerts() if a.kind == kind]


def test_many_wrong_passwords_on_one_account_alert_once_and_close_when_the_window_passes(services, operators, relay,
                                                                                        clock, settings):
    services.users.create_operator(email="target@example.com", password=PASSWORD)
    for _ in range(20):
        with pytest.raises((AuthenticationFailed, TooManyAttempts)):
            services.auth.login(email="target@example.com", password="wrong guess", client_address="203.0.113.5")
    assert check(services)["opened"] == ["sign_in_failures_account"]
    [alert] = opened(services, "sign_in_failures_account")
    assert alert.subject == "target@example.com" and alert.mailed_at
    mails = alert_mails(relay, "target@example.com")
    # Every operator, the targeted account (an operator too) included, once.
    assert sorted(r.rcpt_tos[0] for r in mails) == sorted([*OPERATORS, "target@example.com"])
    assert all(r.over_tls for r in mails) and "guessing" in mails[0].message.get_content()
    # Still open a minute later: no second mail.
    clock.advance(minutes=1)
    assert check(services)["opened"] == [] and len(alert_mails(relay, "target@example.com")) == len(mails)
    events = services.audit.events(action="alert.open", limit=100)
    assert [e.details["kind"] for e in events] == ["sign_in_failures_account"]
    # The failures leave the window: the alert closes by itself, audited.
    clock.advance(minutes=settings.login_window_minutes + 1)
    assert check(services)["resolved"] == ["sign_in_failures_account"]
    assert not opened(services, "sign_in_failures_account")
    assert services.audit.events(action="alert.resolve", limit=10)[0].details["kind"] == "sign_in_failures_account"


def test_many_wrong_passwords_from_one_address_alert(services, operators, relay):
    for number in range(50):
        with pytest.raises((AuthenticationFailed, TooManyAttempts)):
            services.auth.login(email=f"nobody{number}@example.com", password="guess", client_address="198.51.100.66")
    summary = check(services)
    assert "sign_in_failures_address" in summary["opened"]
    assert alert_mails(relay, "198.51.100.66")


def test_an_api_key_quiet_for_a_month_used_from_a_new_address_alerts(services, operators, relay, clock):
    owner = operators[0]
    workspace = services.workspaces.create(name="Acme", owner_id=owner.id, actor_id=owner.id, client_address=None)
    key, record = services.api_keys.create(workspace.id, name="CRM", scopes=["chat"], actor_id=owner.id,
                                           client_address=None)
    services.api_keys.authenticate(key, client_address="192.0.2.10")
    services.api_keys.authenticate(key, client_address="192.0.2.11")  # a move after no quiet: no alert
    assert check(services)["opened"] == []
    clock.advance(days=40)
    services.api_keys.authenticate(key, client_address="203.0.113.99")
    assert "api_key_new_address" in check(services)["opened"]  # (with backup_stale: 40 days without a backup)
    [alert] = opened(services, "api_key_new_address")
    assert alert.details["api_key"] == record.id and alert.details["quiet_days"] == 40
    assert alert_mails(relay, f"API key {record.id}")
    clock.advance(hours=25)  # an event, not a state: it closes after a day
    assert "api_key_new_address" in check(services)["resolved"]


def test_a_tampered_audit_log_fails_verification_and_alerts(services, operators, relay):
    db = services.appliance.control_db
    with db.transaction() as conn:
        conn.execute("UPDATE audit_log SET action = 'user.nothing_to_see' WHERE seq = (SELECT min(seq) FROM audit_log)")
    assert run_job(services, "verify_audit_log").outcome == "failure"
    assert "audit_chain_broken" in check(services)["opened"]
    assert alert_mails(relay, "integrity check")


def test_failing_and_stale_backups_alert_and_a_verified_backup_closes_the_stale_one(services, operators, relay, clock,
                                                                                  settings, tmp_path):
    clock.advance(hours=2 * settings.backup_interval_hours + 1)
    assert "backup_stale" in check(services)["opened"]
    assert alert_mails(relay, "No verified backup")
    backup = services.backups.create()
    services.backups.verify(backup.id)
    assert "backup_stale" in check(services)["resolved"]

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    services.backups.directory = blocker / "backups"  # a backup directory that cannot exist
    assert run_job(services, "backup").outcome == "failure"
    assert "backup_failing" in check(services)["opened"]
    assert alert_mails(relay, "scheduled backup failed")


def test_a_certificate_ten_days_from_expiry_alerts(services, operators, relay, clock, settings):
    cert = facts.files(services.appliance.layout, settings, now=clock.now())["certificate"]
    expires = dt.datetime.fromisoformat(cert["expires_at"].replace("Z", "+00:00"))
    clock.advance(seconds=(expires - clock.now()).total_seconds() - 10 * 86400)
    assert "certificate_expiring" in check(services)["opened"]
    [alert] = opened(services, "certificate_expiring")
    assert alert.summary.startswith(("The TLS certificate expires in 9 days", "The TLS certificate expires in 10 days"))
    mails = [r for r in alert_mails(relay, alert.summary) if r.rcpt_tos == [OPERATORS[0]]]
    assert len(mails) == 1 and "Restart the appliance" in mails[0].message.get_content()


def test_low_disk_alerts_and_the_hourly_limit_holds_back_further_mail(appliance, settings, relay):
    from appliance.services import build_services

    tight = settings.replace(alert_disk_free_percent=99, alert_mails_per_hour=1)
    services = build_services(appliance, tight)
    try:
        services.users.create_operator(email="solo@example.com", password=PASSWORD)
        services.users.create_operator(email="target2@example.com", password=PASSWORD)
        for _ in range(12):
            with pytest.raises((AuthenticationFailed, TooManyAttempts)):
                services.auth.login(email="target2@example.com", password="wrong", client_address="203.0.113.7")
        summary = check(services)
        assert {"disk_low", "sign_in_failures_account"} <= set(summary["opened"]) and summary["mailed"] == 1
        shown = facts.keyed(appliance, tight, jobs=services.jobs)["alerts"]
        assert {a["kind"] for a in shown} >= {"disk_low", "sign_in_failures_account"}
        assert sorted(a["mailed"] for a in shown) == [False, True]
    finally:
        services.knowledge.close()
