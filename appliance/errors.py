"""The one exception hierarchy of the appliance; the server and CLI translate it at a single place each."""


class ApplianceError(Exception):
    """Base of every error the appliance reports on purpose; `code` is stable, the message says what to do."""

    code = "appliance_error"


class ConfigurationError(ApplianceError):
    code = "configuration_error"


class NotInitialised(ApplianceError):
    code = "not_initialised"


class ApplianceExists(ApplianceError):
    code = "appliance_exists"


class ApplianceMismatch(ApplianceError):
    """The data directory and the key directory belong to different appliances."""

    code = "appliance_mismatch"


class KeyError_(ApplianceError):
    """Base of key-handling failures (named with a trailing underscore to leave the builtin alone)."""

    code = "key_error"


class PassphraseRequired(KeyError_):
    code = "passphrase_required"


class WrongMasterKey(KeyError_):
    code = "wrong_master_key"


class InsecureKeyFile(KeyError_):
    code = "insecure_key_file"


class UnknownKey(KeyError_):
    code = "unknown_key"


class KeyExists(KeyError_):
    code = "key_exists"


class StorageError(ApplianceError):
    code = "storage_error"


class DatabaseMissing(StorageError):
    code = "database_missing"


class StorageUnwritable(StorageError):
    """A write could not reach the disk: nothing of it was kept (the transaction rolled back)."""

    code = "storage_unwritable"


class DiskFull(StorageUnwritable):
    code = "disk_full"


class DatabaseUnreadable(StorageError):
    """The key does not open the file, or the file is damaged: SQLCipher cannot tell these apart."""

    code = "database_unreadable"


class DatabaseCorrupt(StorageError):
    code = "database_corrupt"


class DatabaseTooNew(StorageError):
    code = "database_too_new"


class MigrationFailed(StorageError):
    code = "migration_failed"


class InvalidIdentifier(ApplianceError):
    code = "invalid_identifier"


class CertificateError(ApplianceError):
    code = "certificate_error"


class CertificateAuthorityChangeNeeded(CertificateError):
    """A name the appliance must serve lies outside what its CA may vouch for: only a new CA, with a new fingerprint
    every client must trust again, can cover it, and that needs the operator's go-ahead."""

    code = "ca_change_needed"


class ServiceError(ApplianceError):
    """The network service could not start or stay up (port taken, proxy binary missing, ...)."""

    code = "service_error"


class DataDirectoryBusy(ServiceError):
    """Another process holds the data directory: the server or a command (for key rotation), or a key rotation."""

    code = "data_directory_busy"


class PinMismatch(ApplianceError):
    code = "pin_mismatch"


class ValidationError(ApplianceError):
    """Input that breaks a rule; the message names the field and the rule."""

    code = "invalid_request"


class WeakPassword(ValidationError):
    code = "weak_password"


class WeakPassphrase(WeakPassword):
    """A new passphrase (an export's, a recovery kit's, the master key's) that is too easy to guess."""

    code = "weak_passphrase"


class AuthenticationFailed(ApplianceError):
    """Wrong credentials, or a session or token that is unknown, expired or revoked (never says which)."""

    code = "authentication_failed"


class SecondFactorRequired(AuthenticationFailed):
    code = "second_factor_required"


class EmailNotVerified(AuthenticationFailed):
    code = "email_not_verified"


class TooManyAttempts(ApplianceError):
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class DailyShareUsedUp(TooManyAttempts):
    """A widget question past what one client address or network (`scope` address or network), or the agent as a
    whole (`scope` agent), may ask today."""

    def __init__(self, message: str, *, retry_after_seconds: int, scope: str) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds)
        self.scope = scope


class PermissionDenied(ApplianceError):
    code = "forbidden"

    def __init__(self, message: str, *, role: str | None = None) -> None:
        """`role`: the caller's role in the workspace, when that is why (a client explains the refusal with it)."""
        super().__init__(message)
        self.role = role


class NotFound(ApplianceError):
    code = "not_found"


class PassageChanged(NotFound):
    """A cited passage whose text was edited or deleted after the reply: what it said then is no longer kept."""

    code = "passage_changed"


class Conflict(ApplianceError):
    code = "conflict"


class JobAlreadyRunning(Conflict):
    """A scheduled job holds its lease in this or another process (the server, the CLI): it runs once at a time."""

    code = "job_running"


class AuditChainBroken(ApplianceError):
    """The audit log's HMAC chain does not verify: a row was altered, removed or inserted."""

    code = "audit_chain_broken"


class InvalidToken(ApplianceError):
    """A link token (verification, invitation, reset) that is unknown, used, revoked or expired."""

    code = "invalid_token"


class MailError(ApplianceError):
    code = "mail_error"


class NotAvailableHere(PermissionDenied):
    """The widget asked for an agent that is unknown, or from a page whose origin the agent does not allow."""

    code = "not_available_here"


class VisitorTokenExpired(AuthenticationFailed):
    """A widget visitor token past its lifetime: the widget renews it and carries on."""

    code = "token_expired"


class VisitorTokenInvalid(AuthenticationFailed):
    """A widget visitor token that is malformed, forged, or for another agent or origin."""

    code = "token_invalid"


class FieldErrors(ValidationError):
    """Several fields of a form are wrong at once; `fields` maps each to what to fix."""

    def __init__(self, message: str, fields: dict[str, str]) -> None:
        super().__init__(message)
        self.fields = fields


class WorkspaceReadOnly(Conflict):
    """The workspace is cancelled: it can be read and exported, and its cancellation undone, nothing else."""

    code = "workspace_read_only"


class PurgeFailed(ApplianceError):
    """A retention sweep or a workspace purge could not finish; the next run carries on where it stopped."""

    code = "purge_failed"


class LegalHoldActive(Conflict):
    """The workspace is on legal hold: nothing in it may be deleted until the hold is lifted."""

    code = "legal_hold"
