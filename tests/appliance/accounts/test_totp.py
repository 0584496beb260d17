"""TOTP codes against RFC 6238, their single use and drift window, provisioning URIs and recovery codes."""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from appliance.accounts import totp

RFC_SECRET = b"12345678901234567890"


def at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


# RFC 6238 appendix B, SHA1 rows: (Unix time, step, last six of the eight listed digits).
RFC_VECTORS = [
    (59, 0x1, "287082"),
    (1111111109, 0x23523EC, "081804"),
    (1111111111, 0x23523ED, "050471"),
    (1234567890, 0x273EF07, "005924"),
    (2000000000, 0x3F940AA, "279037"),
    (20000000000, 0x27BC86AA, "353130"),
]


@pytest.mark.parametrize(("seconds", "step", "code"), RFC_VECTORS)
def test_codes_match_the_rfc_6238_test_vectors(seconds, step, code):
    assert totp.step_of(at(seconds)) == step
    assert totp.code_at(RFC_SECRET, step) == code


@pytest.mark.parametrize(("seconds", "step", "code"), RFC_VECTORS)
def test_verify_accepts_the_rfc_code_at_its_time_and_returns_its_step(seconds, step, code):
    assert totp.verify(RFC_SECRET, code, now=at(seconds), last_step=0) == step


def test_step_of_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="timezone-aware"):
        totp.step_of(dt.datetime(2026, 11, 29, 12, 0))


def test_step_of_is_the_same_in_every_timezone(clock):
    local = clock.now().astimezone(dt.timezone(dt.timedelta(hours=-7)))
    assert totp.step_of(local) == totp.step_of(clock.now())


def test_new_secrets_are_160_random_bits():
    first, second = totp.new_secret(), totp.new_secret()

    assert len(first) == 20
    assert first != second


def test_secret_text_is_unpadded_base32_that_decodes_back():
    secret = totp.new_secret()
    text = totp.secret_text(secret)

    assert re.fullmatch(r"[A-Z2-7]{32}", text)
    assert base64.b32decode(text + "=" * (-len(text) % 8)) == secret
    assert totp.secret_text(b"\x00" * 10) == "AAAAAAAAAAAAAAAA"


def test_provisioning_uri_parses_into_label_secret_and_parameters():
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account="ada+chat@example.com")

    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/ChatSpark Appliance:ada+chat@example.com"
    assert " " not in uri and "+chat" not in uri, "spaces and plus signs are percent-encoded"
    query = parse_qs(parts.query, strict_parsing=True)
    assert query == {
        "secret": [totp.secret_text(secret)], "issuer": ["ChatSpark Appliance"], "algorithm": ["SHA1"],
        "digits": ["6"], "period": ["30"],
    }


def test_provisioning_uri_quotes_a_colon_inside_issuer_or_account():
    uri = totp.provisioning_uri(totp.new_secret(), account="odd:name", issuer="Acme: Sales")

    label = urlsplit(uri).path.removeprefix("/")
    issuer, account = label.split(":")
    assert (unquote(issuer), unquote(account)) == ("Acme: Sales", "odd:name")


def test_verify_accepts_one_step_of_drift_either_way_but_not_two(clock):
    secret = totp.new_secret()
    now = totp.step_of(clock.now())

    for step in (now - 1, now, now + 1):
        assert totp.verify(secret, totp.code_at(secret, step), now=clock.now(), last_step=0) == step
    for step in (now - 2, now + 2):
        assert totp.verify(secret, totp.code_at(secret, step), now=clock.now(), last_step=0) is None


def test_verify_window_can_be_narrowed_to_the_current_step(clock):
    secret = totp.new_secret()
    now = totp.step_of(clock.now())

    assert totp.verify(secret, totp.code_at(secret, now), now=clock.now(), last_step=0, window=0) == now
    assert totp.verify(secret, totp.code_at(secret, now - 1), now=clock.now(), last_step=0, window=0) is None
    with pytest.raises(ValueError):
        totp.verify(secret, totp.code_at(secret, now), now=clock.now(), last_step=0, window=-1)


def test_a_code_cannot_be_used_twice(clock):
    secret = totp.new_secret()
    code = totp.code_at(secret, totp.step_of(clock.now()))

    used = totp.verify(secret, code, now=clock.now(), last_step=0)
    assert used is not None
    assert totp.verify(secret, code, now=clock.now(), last_step=used) is None
    clock.advance(seconds=20)
    assert totp.verify(secret, code, now=clock.now(), last_step=used) is None


def test_an_older_code_is_refused_after_a_newer_one(clock):
    secret = totp.new_secret()
    now = totp.step_of(clock.now())

    used = totp.verify(secret, totp.code_at(secret, now + 1), now=clock.now(), last_step=0)
    assert used == now + 1
    assert totp.verify(secret, totp.code_at(secret, now), now=clock.now(), last_step=used) is None
    clock.advance(seconds=30)
    assert totp.verify(secret, totp.code_at(secret, now + 2), now=clock.now(), last_step=used) == now + 2


def test_verify_refuses_a_code_from_another_secret(clock):
    code = totp.code_at(totp.new_secret(), totp.step_of(clock.now()))
    other = totp.new_secret()
    # One chance in a million per step that the other secret shares the code; make the test deterministic.
    while any(totp.code_at(other, totp.step_of(clock.now()) + d) == code for d in (-1, 0, 1)):
        other = totp.new_secret()

    assert totp.verify(other, code, now=clock.now(), last_step=0) is None


def test_verify_tolerates_spaces_in_the_code(clock):
    secret = totp.new_secret()
    step = totp.step_of(clock.now())
    code = totp.code_at(secret, step)

    assert totp.verify(secret, f" {code[:3]} {code[3:]} ", now=clock.now(), last_step=0) == step


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12a456", "12-456", "١٢٣٤٥٦", "+12345", "123\t456"])
def test_verify_rejects_codes_that_are_not_six_ascii_digits(clock, typed):
    assert totp.verify(RFC_SECRET, typed, now=clock.now(), last_step=0) is None


def test_recovery_codes_are_distinct_grouped_and_from_the_alphabet():
    codes = totp.new_recovery_codes()

    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}", code), code
    assert len(totp.new_recovery_codes(count=3)) == 3


def test_recovery_codes_carry_at_least_60_bits_and_avoid_look_alikes():
    alphabet = totp.RECOVERY_ALPHABET

    assert len(set(alphabet)) == len(alphabet) == 32
    assert not set("ilou") & set(alphabet)
    symbols = totp.RECOVERY_GROUPS * totp.RECOVERY_GROUP_LENGTH
    assert symbols * math.log2(len(alphabet)) >= 60


def test_recovery_codes_normalise_case_dashes_spaces_and_look_alikes():
    assert totp.normalise_recovery_code(" 7KQ2-M9XD P4TW ") == "7kq2m9xdp4tw"
    assert totp.normalise_recovery_code("oOiI-lL00-1111") == "001111001111"


def test_recovery_code_hash_is_sha256_hex_of_the_normalised_code():
    code = totp.new_recovery_codes(count=1)[0]
    hashed = totp.hash_recovery_code(code)

    assert re.fullmatch(r"[0-9a-f]{64}", hashed)
    assert totp.hash_recovery_code(code.upper().replace("-", " ")) == hashed
    assert totp.hash_recovery_code("7kq2-m9xd-p4tw") != totp.hash_recovery_code("7kq2-m9xd-p4tx")
