"""Delivery of one message to the configured SMTP relay, over verified TLS unless the relay is on this machine."""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from appliance.errors import MailError
from appliance.settings import Settings

SECURITY_MODES = ("starttls", "tls", "none")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    username: str = ""
    # Kept out of the repr so the password cannot reach logs or tracebacks through it.
    password: str = field(default="", repr=False)
    ca_file: Path | None = None
    timeout: float = 20.0


class SmtpRelay:
    """Sends each message on its own connection; every failure is a MailError with a one-line reason."""

    def __init__(self, settings: SmtpSettings) -> None:
        if settings.security not in SECURITY_MODES:
            raise MailError(f"smtp_security must be starttls, tls or none, not {settings.security!r}")
        if not settings.host:
            raise MailError("smtp_host is empty; set it to the relay's host name")
        if settings.security == "none" and not is_loopback(settings.host):
            raise MailError(
                f"smtp_security 'none' sends mail and passwords in clear text, so it is only allowed for a relay "
                f"on this machine (localhost, 127.0.0.1, ::1), not {settings.host!r}; use starttls or tls"
            )
        self.settings = settings
        self._context = tls_context(settings.ca_file) if settings.security != "none" else None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpRelay | None:
        """The relay the operator configured, or None while smtp_host is empty (mail then waits in the outbox)."""
        if not settings.smtp_host:
            return None
        return cls(SmtpSettings(
            host=settings.smtp_host, port=settings.smtp_port, security=settings.smtp_security,
            username=settings.smtp_username, password=settings.smtp_password, ca_file=settings.smtp_ca_file,
        ))

    def send(self, message: EmailMessage) -> None:
        """Deliver one message, or raise MailError saying why not (never with the password in it)."""
        try:
            smtp = self._connect()
        except (OSError, UnicodeError) as exc:
            raise MailError(self._reason("cannot connect to", exc)) from None
        try:
            self._secure(smtp)
            if self.settings.username:
                smtp.login(self.settings.username, self.settings.password)
            smtp.send_message(message)
        except (OSError, UnicodeError) as exc:
            smtp.close()
            raise MailError(self._reason("cannot deliver through", exc)) from None
        try:
            smtp.quit()
        except OSError:
            # The relay has accepted the message; a lost goodbye changes nothing.
            smtp.close()

    def _connect(self) -> smtplib.SMTP:
        host, port, timeout = self.settings.host, self.settings.port, self.settings.timeout
        if self.settings.security == "tls":
            return smtplib.SMTP_SSL(host, port, timeout=timeout, context=self._context)
        return smtplib.SMTP(host, port, timeout=timeout)

    def _secure(self, smtp: smtplib.SMTP) -> None:
        if self.settings.security != "starttls":
            return
        smtp.ehlo()
        if not smtp.has_extn("starttls"):
            # Carrying on in clear text would hand the mail, and any password, to whoever is on the path.
            raise _NoStartTls("the relay does not offer STARTTLS; refusing to send in clear text "
                              "(fix the relay, or use smtp_security 'tls' if it speaks implicit TLS)")
        smtp.starttls(context=self._context)
        smtp.ehlo()

    def _reason(self, doing: str, exc: BaseException) -> str:
        # Only the text that came from outside is scrubbed: a relay could echo what it was sent.
        detail = " ".join(_describe(exc).split())
        if self.settings.password:
            detail = detail.replace(self.settings.password, "***")
        return f"{doing} {self.settings.host}:{self.settings.port}: {detail}"


class _NoStartTls(smtplib.SMTPException):
    pass


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A client context that verifies the relay's certificate and name, TLS 1.2 or newer."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise MailError(f"cannot load smtp_ca_file {ca_file}: {_describe(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses; names are not resolved, so DNS cannot make a host 'local'."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{rcpt} ({code} {_text(msg)})" for rcpt, (code, msg) in exc.recipients.items())
        return f"recipient refused: {refused}"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"sender {exc.sender} refused ({exc.smtp_code} {_text(exc.smtp_error)})"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"login refused ({exc.smtp_code} {_text(exc.smtp_error)}); check smtp_username and smtp_password"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"relay answered {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message}); set smtp_ca_file to the CA that issued it"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the relay running, and is smtp_port right?)"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, UnicodeError):
        return "the user name or password has characters SMTP login cannot send (ASCII only)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _text(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)

