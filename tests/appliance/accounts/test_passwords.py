"""Password rules, the shipped common-password list, and argon2id hashing."""

from __future__ import annotations

import sys
import time
import unicodedata

import argon2
import pytest

from appliance.accounts.passwords import (
    PasswordHasher,
    PasswordPolicy,
    default_common_passwords_path,
    load_common_passwords,
    normalise,
)
from appliance.errors import ValidationError, WeakPassword
from appliance.settings import SETTINGS

# Cheap argon2id for everything but the one test that measures the real cost.
FAST = {"time_cost": 1, "memory_kib": 1024, "parallelism": 1}
DEFAULTS = {s.name: s.default for s in SETTINGS}
EMAIL = "margaret.hamilton@example.com"


@pytest.fixture(scope="module")
def common() -> frozenset[str]:
    return load_common_passwords(default_common_passwords_path())


@pytest.fixture
def policy(common) -> PasswordPolicy:
    return PasswordPolicy(common)


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(**FAST)


def test_common_list_is_read_lower_cased_without_comments_or_blank_lines(tmp_path):
    listing = tmp_path / "common.txt"
    listing.write_text("# a comment\n#another\n\nHunter2\nletmein\r\n  \n", encoding="utf-8")

    assert load_common_passwords(listing) == frozenset({"hunter2", "letmein"})


def test_shipped_common_list_is_found_and_holds_the_whole_list(common):
    assert default_common_passwords_path().is_file()
    assert len(common) > 19_000
    assert {"password", "123456", "password1234", "qwerty123456"} <= common
    assert not any(entry.startswith("#") for entry in common)


def test_common_list_is_found_in_the_bundle_when_frozen(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)

    assert default_common_passwords_path() == tmp_path / "config" / "common-passwords.txt"


@pytest.mark.parametrize("password", [
    "correct horse battery staple",
    "mouflon quartz",
    "我的密码是非常安全的句子",
    "🔥🌊🍀🎈🦊🚲🌙⭐🍉🎸🐙🌵",
    "👩‍👩‍👧‍👦 family photos",  # zero-width joiners are format characters, not control characters
    " spaces  at both ends ",
    "walrus umbrella fjord " * 11 + "ok",  # 244 characters: long ones are judged by their start
])
def test_policy_accepts_long_passwords_of_any_script_without_composition_rules(policy, password):
    policy.check(password, email=EMAIL)


def test_policy_refuses_a_password_one_character_short_and_says_how_long_it_must_be(policy):
    policy.check("kq7#zv2!mwxp", email=EMAIL)

    with pytest.raises(WeakPassword, match="has 11 characters and needs at least 12") as raised:
        policy.check("kq7#zv2!mwx", email=EMAIL)
    assert isinstance(raised.value, ValidationError)


def test_policy_refuses_a_password_over_the_maximum_length(policy):
    with pytest.raises(WeakPassword, match="at most 256"):
        policy.check("x" * 257, email=EMAIL)


def test_policy_counts_length_in_code_points_after_nfc_normalisation(policy):
    decomposed = unicodedata.normalize("NFD", "éte ménagé")  # 14 code points as typed, 10 characters

    with pytest.raises(WeakPassword, match="has 10 characters"):
        policy.check(decomposed, email=EMAIL)
    policy.check(decomposed + unicodedata.normalize("NFD", " lé"), email=EMAIL)


def test_policy_lengths_can_be_configured(common):
    short = PasswordPolicy(common, min_length=8, max_length=10)

    short.check("kq7#zv2!mw", email=EMAIL)
    with pytest.raises(WeakPassword, match="at most 10"):
        short.check("eleven char", email=EMAIL)


@pytest.mark.parametrize("password", ["password1234", "PassWord1234", "QWERTY123456", "1q2w3e4r5t6y"])
def test_policy_refuses_common_passwords_whatever_their_case(policy, password):
    with pytest.raises(WeakPassword, match="common passwords"):
        policy.check(password, email=EMAIL)


def test_policy_refuses_a_password_only_because_it_is_on_the_list():
    # A phrase the estimator finds strong is refused once it is on the list, so the refusal above is the list's.
    PasswordPolicy(frozenset()).check("Walrus Umbrella Fjord", email=EMAIL)
    with pytest.raises(WeakPassword, match="common passwords"):
        PasswordPolicy(frozenset({"walrus umbrella fjord"})).check("Walrus Umbrella Fjord", email=EMAIL)


@pytest.mark.parametrize("password", ["Margaret.Hamilton1969", "my name is MARGARET.HAMILTON"])
def test_policy_refuses_a_password_containing_the_email_local_part(policy, password):
    with pytest.raises(WeakPassword, match="email address"):
        policy.check(password, email=EMAIL)


def test_policy_checks_the_local_part_from_three_characters(common):
    policy = PasswordPolicy(common)

    with pytest.raises(WeakPassword, match="email address"):
        policy.check("bob likes long walks", email="bob@example.com")
    policy.check("al likes long walks", email="al@example.com")
    policy.check("alice likes long walks", email="bob@example.com")


@pytest.mark.parametrize("control", ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\ud800"])
def test_policy_refuses_control_characters_and_lone_surrogates(policy, control):
    with pytest.raises(WeakPassword, match="control character"):
        policy.check(f"a perfectly long{control}password", email=EMAIL)


def test_normalise_composes_characters():
    assert normalise("e\u0301te\u0301 en montagne") == "\u00e9t\u00e9 en montagne"


def test_hasher_makes_argon2id_hashes_that_verify_only_the_right_password(hasher):
    encoded = hasher.hash("correct horse battery staple")

    assert encoded.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert hasher.verify(encoded, "correct horse battery staple")
    assert not hasher.verify(encoded, "correct horse battery stapler")
    assert not hasher.verify(encoded, "Correct horse battery staple")


def test_hasher_salts_each_hash(hasher):
    assert hasher.hash("the same passphrase") != hasher.hash("the same passphrase")


def test_hasher_treats_both_unicode_forms_of_a_password_as_one(hasher):
    encoded = hasher.hash(unicodedata.normalize("NFD", "été en montagne"))

    assert hasher.verify(encoded, unicodedata.normalize("NFC", "été en montagne"))


@pytest.mark.parametrize("encoded", ["", "not a hash", "$argon2id$v=19$m=1024,t=1,p=1$broken", "$2b$12$bcrypt"])
def test_hasher_verify_is_false_for_an_unreadable_hash(hasher, encoded):
    assert hasher.verify(encoded, "correct horse battery staple") is False


def test_hasher_verify_is_false_for_a_lone_surrogate_instead_of_raising(hasher):
    assert hasher.verify(hasher.hash("correct horse battery staple"), "correct horse \ud800") is False


def test_hasher_verify_without_a_hash_is_false_but_still_verifies_a_dummy(hasher, monkeypatch):
    checked = []
    real_verify = argon2.PasswordHasher.verify

    def recording_verify(self, hash, password):
        checked.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", recording_verify)

    assert hasher.verify(None, "correct horse battery staple") is False
    assert hasher.verify(None, "another guess at a password") is False

    assert len(checked) == 2
    assert checked[0] == checked[1], "the dummy hash is made once and reused"
    assert argon2.extract_parameters(checked[0]) == argon2.extract_parameters(hasher.hash("x"))


def test_needs_rehash_only_when_parameters_change(hasher):
    encoded = hasher.hash("correct horse battery staple")
    stronger = PasswordHasher(time_cost=2, memory_kib=2048, parallelism=1)

    assert not hasher.needs_rehash(encoded)
    assert stronger.needs_rehash(encoded)
    assert stronger.verify(encoded, "correct horse battery staple"), "old hashes still verify until rehashed"
    assert not stronger.needs_rehash(stronger.hash("correct horse battery staple"))
    assert hasher.needs_rehash("not a hash")


def test_default_parameters_hash_with_settings_costs_and_unknown_users_take_as_long():
    hasher = PasswordHasher(time_cost=DEFAULTS["argon2_time_cost"], memory_kib=DEFAULTS["argon2_memory_kib"],
                            parallelism=DEFAULTS["argon2_parallelism"])
    encoded = hasher.hash("correct horse battery staple")
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    hasher.verify(None, "warm up the dummy hash")

    def fastest(encoded_or_none) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            hasher.verify(encoded_or_none, "a wrong guess at it")
            times.append(time.perf_counter() - start)
        return min(times)

    ratio = fastest(None) / fastest(encoded)
    assert 0.5 <= ratio <= 2.0, f"an unknown user took {ratio:.2f} times as long as a known one"
