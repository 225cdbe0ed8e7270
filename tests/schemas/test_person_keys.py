"""Pseudonyms: keyed, stable, normalised; the secret only from the environment."""

from __future__ import annotations

import pytest

from schemas.person_keys import (
    DEMO_SECRET,
    SECRET_ENV,
    PseudonymKeyError,
    pseudonymise,
    secret_from_environment,
)


def test_same_person_same_key_across_spellings_and_different_under_another_secret():
    a, b, c, none = pseudonymise(["syn-0001", " SYN-0001 ", "SYN-0002", ""], b"s" * 16)
    assert a == b and a != c and none is None
    assert a != pseudonymise(["SYN-0001"], b"t" * 16)[0]
    assert "SYN" not in a and len(a) == 32


def test_secret_is_required_outside_the_demo(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert secret_from_environment(allow_demo=True) == DEMO_SECRET.encode()
    with pytest.raises(PseudonymKeyError, match=SECRET_ENV):
        secret_from_environment(allow_demo=False)
    monkeypatch.setenv(SECRET_ENV, DEMO_SECRET)
    with pytest.raises(PseudonymKeyError, match="demo key"):
        secret_from_environment(allow_demo=False)
    monkeypatch.setenv(SECRET_ENV, "a-real-secret-of-enough-length")
    assert secret_from_environment(allow_demo=False) == b"a-real-secret-of-enough-length"
