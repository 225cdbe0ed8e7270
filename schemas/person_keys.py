"""Keyed-hash pseudonyms for person identifiers.

Every feed that carries a person identifier (a document number, a student id) replaces it
at ingestion with HMAC-SHA256 under one secret, so that the same person gets the same key in
police, social-services and school data (the cross-institution indicators join on it) and the
original identifier never reaches the warehouse.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable

SECRET_ENV = "CONVIVE_PSEUDONYM_KEY"
# Only the demo may run on this key; publishing refuses it elsewhere.
DEMO_SECRET = "convive-demo-key-not-secret"
# A value already replaced by its pseudonym (in quarantine, and in files exported from it for
# correction) carries this prefix, so that ingesting it again keeps the key instead of hashing
# the hash.
PSEUDONYM_PREFIX = "pseudonym:"


class PseudonymKeyError(RuntimeError):
    """The pseudonymisation secret is missing or unusable."""


def secret_from_environment(*, allow_demo: bool) -> bytes:
    """Read the pseudonymisation secret from the environment.

    With ``allow_demo`` the well-known demo key is used when none is set; without it a missing
    or demo key is an error, so real data are never keyed with a published secret.
    """
    value = os.environ.get(SECRET_ENV, "")
    if not value:
        if allow_demo:
            return DEMO_SECRET.encode()
        raise PseudonymKeyError(f"{SECRET_ENV} is not set: person keys need a secret")
    if value == DEMO_SECRET and not allow_demo:
        raise PseudonymKeyError(f"{SECRET_ENV} holds the demo key: set a real secret")
    if len(value) < 16:
        raise PseudonymKeyError(f"{SECRET_ENV} is shorter than 16 characters")
    return value.encode()


def pseudonymise(values: Iterable[str | None], secret: bytes) -> list[str | None]:
    """Replace each identifier by its HMAC-SHA256 pseudonym (hex, 32 chars); None stays None.

    Identifiers are normalised (trimmed, upper-cased) first so that the same document number
    written two ways by two institutions still links. A value marked with PSEUDONYM_PREFIX is
    already a pseudonym and is kept as it is.
    """
    out: list[str | None] = []
    for value in values:
        if value is None or not str(value).strip():
            out.append(None)
            continue
        if str(value).startswith(PSEUDONYM_PREFIX):
            out.append(str(value).removeprefix(PSEUDONYM_PREFIX))
            continue
        normalised = str(value).strip().upper().encode()
        out.append(hmac.new(secret, normalised, hashlib.sha256).hexdigest()[:32])
    return out
