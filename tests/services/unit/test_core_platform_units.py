"""core_platform's pure parts: input validation, client address, bounded password hashing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from stack.services.common.errors import DependencyUnavailable
from stack.services.core_platform.passwords import PasswordSettings, Passwords
from stack.services.core_platform.routes import Credentials, Registration, client_ip


def request(headers: dict[str, str], peer: str = "192.0.2.1") -> Request:
    raw = [(key.lower().encode(), value.encode()) for key, value in headers.items()]
    return Request({"type": "http", "headers": raw, "client": (peer, 40000)})


def test_email_is_trimmed_and_lowercased() -> None:
    assert Credentials(email="  Alice@Example.COM ", password="x").email == "alice@example.com"


@pytest.mark.parametrize("email", ["nope", "a@b", "a b@c.de", "@c.de", "a@.", ""])
def test_invalid_email_is_rejected(email: str) -> None:
    with pytest.raises(ValidationError):
        Credentials(email=email, password="secret-password")


def test_registration_needs_eight_characters_but_login_does_not() -> None:
    with pytest.raises(ValidationError):
        Registration(email="a@b.co", password="1234567")
    assert Registration(email="a@b.co", password="12345678").password == "12345678"
    assert Credentials(email="a@b.co", password="1").password == "1"


def test_client_ip_prefers_real_ip_then_forwarded_for_then_peer() -> None:
    assert client_ip(request({"X-Real-IP": "203.0.113.5", "X-Forwarded-For": "198.51.100.1"})) == "203.0.113.5"
    assert client_ip(request({"X-Forwarded-For": "198.51.100.1, 10.0.0.1"})) == "198.51.100.1"
    assert client_ip(request({})) == "192.0.2.1"


def fast_passwords(concurrency: int = 2, queue_timeout_s: float = 0.05) -> Passwords:
    return Passwords(PasswordSettings(argon2_time_cost=1, argon2_memory_kib=8,
                                      argon2_max_concurrency=concurrency, argon2_queue_timeout_s=queue_timeout_s))


def test_hash_and_verify() -> None:
    passwords = fast_passwords()
    hashed = passwords.hash("correct horse")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify(hashed, "correct horse")
    assert not passwords.verify(hashed, "wrong horse")
    assert not passwords.verify("not a hash", "correct horse")
    passwords.verify_unknown("anything")  # burns time, never raises


def test_hashing_is_bounded_and_fails_fast_when_saturated() -> None:
    passwords = fast_passwords(concurrency=1, queue_timeout_s=0.05)
    with passwords._slot():  # the only slot is busy
        with pytest.raises(DependencyUnavailable):
            passwords.hash("correct horse")
    assert passwords.verify(passwords.hash("correct horse"), "correct horse")  # the slot was given back


def test_client_ip_cannot_inject_into_the_log_line() -> None:
    assert client_ip(request({"X-Real-IP": "1.2.3.4 reason=ok\nfake"})) == "1.2.3.4reasonokfake"
    assert client_ip(request({"X-Real-IP": "[2001:db8::1]"})) == "[2001:db8::1]"
