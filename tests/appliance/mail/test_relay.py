"""The SMTP relay against a real aiosmtpd server: verified TLS or nothing, logins, and failures as MailError."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from appliance import settings as appliance_settings
from appliance.errors import MailError
from appliance.mail.relay import SmtpRelay, SmtpSettings
from tests.appliance.mail.smtp_server import (
    HOST,
    CollectingHandler,
    Credentials,
    issue_relay_certificate,
    running_smtp_server,
    unused_port,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def relay_certificate(tmp_path_factory):
    return issue_relay_certificate(tmp_path_factory.mktemp("relay-certificate"))


@pytest.fixture
def starttls_server(relay_certificate):
    with running_smtp_server(tls_context=relay_certificate.server_context(), require_starttls=True) as server:
        yield server


def _message(subject: str = "Welcome") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "ChatSpark Appliance <chatspark@example.com>"
    message["To"] = "alice@example.com"
    message["Subject"] = subject
    message.set_content("Hello Alice.")
    return message


def test_starttls_relay_with_the_ca_delivers_over_tls(starttls_server, relay_certificate):
    relay = SmtpRelay(SmtpSettings(HOST, starttls_server.port, "starttls", ca_file=relay_certificate.ca_file))

    relay.send(_message())

    (received,) = starttls_server.received
    assert received.over_tls
    assert received.rcpt_tos == ["alice@example.com"]
    assert received.message["Subject"] == "Welcome"


def test_starttls_relay_refuses_a_certificate_its_ca_file_does_not_vouch_for(starttls_server):
    relay = SmtpRelay(SmtpSettings(HOST, starttls_server.port, "starttls"))

    with pytest.raises(MailError, match="certificate not trusted"):
        relay.send(_message())

    assert starttls_server.received == []


def test_starttls_relay_refuses_a_certificate_issued_for_another_name(tmp_path, relay_certificate):
    with running_smtp_server(tls_context=relay_certificate.server_context(), require_starttls=True) as server:
        # The certificate names 127.0.0.1; reached as localhost, the name check must fail.
        relay = SmtpRelay(SmtpSettings("localhost", server.port, "starttls", ca_file=relay_certificate.ca_file))

        with pytest.raises(MailError, match="localhost"):
            relay.send(_message())

        assert server.received == []


def test_starttls_relay_refuses_a_server_without_starttls_and_sends_nothing_in_clear():
    credentials = Credentials("mailer", PASSWORD)
    # This server would take a login and mail in clear text; the relay must give it neither.
    with running_smtp_server(authenticator=credentials, auth_require_tls=False) as server:
        relay = SmtpRelay(SmtpSettings(HOST, server.port, "starttls", username="mailer", password=PASSWORD))

        with pytest.raises(MailError, match="does not offer STARTTLS"):
            relay.send(_message())

        assert server.received == []
        assert credentials.attempts == []


def test_implicit_tls_relay_delivers_to_a_server_its_ca_vouches_for(relay_certificate):
    with running_smtp_server(ssl_context=relay_certificate.server_context()) as server:
        relay = SmtpRelay(SmtpSettings(HOST, server.port, "tls", ca_file=relay_certificate.ca_file))

        relay.send(_message("Implicit"))

        (received,) = server.received
        assert received.over_tls
        assert received.message["Subject"] == "Implicit"


def test_implicit_tls_relay_refuses_an_untrusted_certificate(relay_certificate):
    with running_smtp_server(ssl_context=relay_certificate.server_context()) as server:
        relay = SmtpRelay(SmtpSettings(HOST, server.port, "tls"))

        with pytest.raises(MailError, match="certificate not trusted"):
            relay.send(_message())

        assert server.received == []


def test_relay_logs_in_with_the_right_credentials_and_delivers(relay_certificate):
    credentials = Credentials("mailer", PASSWORD)
    with running_smtp_server(tls_context=relay_certificate.server_context(), require_starttls=True,
                             authenticator=credentials, auth_required=True) as server:
        relay = SmtpRelay(SmtpSettings(HOST, server.port, "starttls", username="mailer", password=PASSWORD,
                                       ca_file=relay_certificate.ca_file))

        relay.send(_message())

        assert credentials.attempts == [("mailer", PASSWORD)]
        assert len(server.received) == 1


def test_wrong_credentials_raise_mail_error_that_does_not_contain_the_password(relay_certificate):
    credentials = Credentials("mailer", PASSWORD)
    wrong = "hunter2-wrong-password"
    with running_smtp_server(tls_context=relay_certificate.server_context(), require_starttls=True,
                             authenticator=credentials, auth_required=True) as server:
        relay = SmtpRelay(SmtpSettings(HOST, server.port, "starttls", username="mailer", password=wrong,
                                       ca_file=relay_certificate.ca_file))

        with pytest.raises(MailError, match="login refused") as raised:
            relay.send(_message())

        # smtplib tries each mechanism the server offers (PLAIN, then LOGIN) before giving up.
        assert credentials.attempts and set(credentials.attempts) == {("mailer", wrong)}
        assert server.received == []
    assert wrong not in str(raised.value) and wrong not in repr(raised.value)
    assert "\n" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_relay_that_is_not_listening_raises_mail_error_naming_the_address():
    port = unused_port()
    relay = SmtpRelay(SmtpSettings(HOST, port, "none"))

    with pytest.raises(MailError, match=f"cannot connect to {HOST}:{port}: connection refused"):
        relay.send(_message())


class _NoSuchUser(CollectingHandler):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        return f"550 5.1.1 <{address}>: no such user"


def test_recipient_refused_by_the_relay_is_a_mail_error_naming_it():
    with running_smtp_server(handler=_NoSuchUser()) as server:
        relay = SmtpRelay(SmtpSettings(HOST, server.port, "none"))

        with pytest.raises(MailError, match="recipient refused: alice@example.com \\(550 5.1.1 .*no such user\\)"):
            relay.send(_message())

        assert server.received == []


@pytest.mark.parametrize("host", ["smtp.example.com", "10.0.0.5", "192.168.1.20", "fd00::5", "localhost.example.com"])
def test_plain_smtp_is_refused_for_a_relay_off_this_machine(host):
    with pytest.raises(MailError, match="only allowed for a relay on this machine"):
        SmtpRelay(SmtpSettings(host, 25, "none"))


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.53", "::1"])
def test_plain_smtp_is_allowed_for_a_relay_on_this_machine(host):
    assert SmtpRelay(SmtpSettings(host, 25, "none")).settings.host == host


def test_plain_smtp_on_loopback_delivers():
    with running_smtp_server() as server:
        SmtpRelay(SmtpSettings(HOST, server.port, "none")).send(_message())

        (received,) = server.received
        assert not received.over_tls


def test_unknown_security_mode_is_refused():
    with pytest.raises(MailError, match="starttls, tls or none"):
        SmtpRelay(SmtpSettings("smtp.example.com", 587, "ssl"))


def test_a_missing_ca_file_is_reported_when_the_relay_is_built(tmp_path):
    with pytest.raises(MailError, match="cannot load smtp_ca_file"):
        SmtpRelay(SmtpSettings("smtp.example.com", 587, "starttls", ca_file=tmp_path / "absent.pem"))


def test_settings_repr_never_shows_the_password():
    shown = repr(SmtpSettings("smtp.example.com", 587, "starttls", username="mailer", password=PASSWORD))

    assert PASSWORD not in shown
    assert "mailer" in shown


def test_relay_from_settings_is_none_until_a_host_is_configured(tmp_path):
    base = appliance_settings.load(environ={}, shipped=False, overrides={"data_dir": tmp_path, "key_dir": tmp_path})
    configured = base.replace(smtp_host="mail.example.com", smtp_port=465, smtp_security="tls",
                              smtp_username="mailer", smtp_password=PASSWORD)

    relay = SmtpRelay.from_settings(configured)

    assert SmtpRelay.from_settings(base) is None
    assert relay is not None
    assert relay.settings == SmtpSettings("mail.example.com", 465, "tls", username="mailer", password=PASSWORD)
