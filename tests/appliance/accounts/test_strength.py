"""The one secret policy, for passwords and every passphrase the appliance accepts: repeats, sequences, keyboard
patterns, dates, look-alikes and context words are refused with advice, and no message repeats the secret."""

from __future__ import annotations

import pytest

from appliance.accounts.passwords import PasswordPolicy
from appliance.accounts.strength import check_passphrase, shipped_common_passwords
from appliance.errors import ValidationError, WeakPassphrase, WeakPassword, WrongMasterKey
from appliance.exports.archive import check_passphrase as check_export_passphrase
from appliance.keys import masterkey, recovery_kit
from appliance.storage.encrypted_files import ScryptParameters
from tests.conftest import FAST_KDF

EMAIL = "margaret.hamilton@example.com"
FAST_SCRYPT = ScryptParameters(n=2**4, r=8, p=1)
# Each weak secret, and the advice its refusal must give.
WEAK = [
    ("aaaaaaaaaaaa", "avoid repeated characters"),
    ("abcabcabcabcabc", "avoid repeated characters"),
    ("abcdefghijklm", "avoid sequences"),
    ("0123456789ab", "avoid sequences"),
    ("zxcvbnm,./asdf", "avoid keyboard patterns"),
    ("december 31 1969", "avoid dates and years"),
    ("p@ssw0rd p@ssw0rd", "look-alikes"),
    ("drowssap1234", "backwards"),
    ("Summer2024!!", "avoid common words"),
    ("ChatSpark Appliance 1", "the product's name"),
    ("chatspark chatspark", "the product's name"),
]


@pytest.fixture(scope="module")
def policy() -> PasswordPolicy:
    return PasswordPolicy(shipped_common_passwords())


def _echoes(message: str, secret: str) -> bool:
    """Whether the message holds the secret, or any 8 characters of it in a row beyond the policy's own fixed words
    (the product's name, the examples in its advice)."""
    folded = message.lower()
    if secret.lower() in folded:
        return True
    for fixed in ("chatspark", "p@ssw0rd"):
        folded = folded.replace(fixed, "")
    return any(secret.lower()[i:i + 8] in folded for i in range(max(1, len(secret) - 7)))


@pytest.mark.parametrize(("secret", "advice"), WEAK)
def test_a_weak_password_is_refused_with_advice_that_does_not_echo_it(policy, secret, advice):
    with pytest.raises(WeakPassword, match="too easy to guess") as raised:
        policy.check(secret, email=EMAIL)

    assert advice in str(raised.value)
    assert "Add another word or two" in str(raised.value)
    assert not _echoes(str(raised.value), secret)


@pytest.mark.parametrize(("secret", "advice"), WEAK)
def test_a_weak_passphrase_is_refused_the_same_way(secret, advice):
    with pytest.raises(WeakPassphrase, match="The passphrase is too easy to guess") as raised:
        check_passphrase(secret)

    assert advice in str(raised.value)
    assert not _echoes(str(raised.value), secret)
    assert isinstance(raised.value, ValidationError)


@pytest.mark.parametrize(("secret", "context"), [
    ("acme support desk 1", ("Acme Support Desk",)),
    ("acmesupport2024", ("Acme Support",)),
    ("margaret1969hamilton", ()),
    ("example margaret 1234", ()),
    ("Ada Lovelace rules!", ("Ada Lovelace",)),
])
def test_a_password_made_of_its_context_is_refused(policy, secret, context):
    with pytest.raises(WeakPassword) as raised:
        policy.check(secret, email=EMAIL, context=context)

    assert "name" in str(raised.value) or "email address" in str(raised.value)
    assert not _echoes(str(raised.value), secret)


def test_context_words_are_refused_only_where_they_are_the_context(policy):
    policy.check("acme support desk 1 walrus umbrella", email=EMAIL, context=("Acme Support Desk",))
    with pytest.raises(WeakPassword, match="workspace's name"):
        policy.check("acme support desk 1", email=EMAIL, context=("Acme Support Desk",))


@pytest.mark.parametrize("secret", ["aaaaaaaaaaaa", "password1234", "abcdefghijkl"])
def test_an_export_passphrase_follows_the_one_policy(secret):
    with pytest.raises(WeakPassphrase):
        check_export_passphrase(secret)
    assert check_export_passphrase("walrus umbrella fjord") == "walrus umbrella fjord"


def test_an_export_passphrase_is_checked_against_its_context():
    check_export_passphrase("acme support desk walrus lantern")
    with pytest.raises(WeakPassphrase, match="workspace's name"):
        check_export_passphrase("acme support desk 2024", context=("Acme Support Desk",))


@pytest.mark.parametrize("secret", ["aaaaaaaaaaaa", "password1234", "qwertyuiop12"])
def test_a_weak_master_key_passphrase_is_refused_and_writes_nothing(tmp_path, secret):
    key_dir = tmp_path / "keys"
    key_dir.mkdir(mode=0o700)

    with pytest.raises(WeakPassphrase):
        masterkey.create(key_dir, passphrase=secret, kdf=FAST_KDF)

    assert list(key_dir.iterdir()) == []


def test_a_weak_new_master_key_passphrase_changes_nothing(tmp_path):
    key_dir = tmp_path / "keys"
    key_dir.mkdir(mode=0o700)
    masterkey.create(key_dir, passphrase="walrus umbrella fjord", kdf=FAST_KDF)
    before = (key_dir / masterkey.WRAPPED_NAME).read_bytes()

    with pytest.raises(WeakPassphrase):
        masterkey.change_protection(key_dir, passphrase="walrus umbrella fjord", new_passphrase="password1234")

    assert (key_dir / masterkey.WRAPPED_NAME).read_bytes() == before
    with pytest.raises(WrongMasterKey):
        masterkey.load(key_dir, passphrase="password1234")


@pytest.mark.parametrize("secret", ["aaaaaaaaaaaa", "password1234", "chatspark appliance kit"])
def test_a_weak_recovery_kit_passphrase_is_refused(appliance, clock, secret):
    with pytest.raises(WeakPassphrase):
        recovery_kit.export_kit(appliance.keystore, passphrase=secret, clock=clock, scrypt=FAST_SCRYPT)
    data = recovery_kit.export_kit(appliance.keystore, passphrase="walrus umbrella fjord", clock=clock,
                                   scrypt=FAST_SCRYPT)
    assert recovery_kit.read_kit(data, passphrase="walrus umbrella fjord").appliance_id == appliance.appliance_id
