"""A cache of disclosure-control results for sub-tables, keyed by their exact content.

An indicator table splits into sub-tables that no additive relation links (one per period:
the period has no hierarchy). A new batch usually changes a few periods only, so the
suppression pattern and the audit verdict of every other sub-table can be reused: each is a
pure function of the sub-table's cells, the hierarchies and the rule, and the key is a
SHA-256 of exactly those (plus a version of the algorithm). A hit therefore gives what a
fresh computation would give, byte for byte.

Entries are small JSON files in one folder. Their names are hashes of *unprotected* counts
(a small table's hash can be matched by trying candidate counts), so the folder is as
confidential as the warehouse: never put it inside a published folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd


class DisclosureCache:
    """Results by content key, in a folder; remembers which keys this run used."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.used: set[str] = set()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict | None:
        """The stored result for `key`, or None (also for an unreadable entry)."""
        try:
            found = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.used.add(key)
        self.hits += 1
        return found

    def put(self, key: str, result: dict) -> None:
        """Store a result atomically (a reader never sees half a file)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{key}.json"
        partial = self.folder / f".{key}.{os.getpid()}.tmp"
        partial.write_text(json.dumps(result, sort_keys=True), encoding="utf-8")
        partial.replace(target)
        self.used.add(key)

    def prune(self) -> int:
        """Delete the entries this run did not use (stale sub-tables); return how many."""
        if not self.folder.is_dir():
            return 0
        removed = 0
        for entry in self.folder.glob("*.json"):
            if entry.stem not in self.used:
                entry.unlink(missing_ok=True)
                removed += 1
        return removed


def hierarchies_digest(hierarchies: Mapping[str, Mapping[str, str]]) -> str:
    """A stable digest of the hierarchies (computed once per table, used in every key)."""
    plain = {str(dim): sorted(map(list, dict(h).items())) for dim, h in hierarchies.items()}
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()


def content_key(
    kind: str,
    settings: Mapping[str, object],
    hierarchies: str,
    keys: pd.DataFrame,
    values: np.ndarray,
) -> str:
    """SHA-256 of everything a sub-table result depends on.

    `settings` holds the rule and algorithm version, `hierarchies` a `hierarchies_digest`,
    `keys` the sub-table's dimension columns and `values` its counts (NaN for a hidden one).
    """
    digest = hashlib.sha256()
    header = {"kind": kind, "settings": dict(settings), "columns": list(map(str, keys.columns))}
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    digest.update(hierarchies.encode())
    # CSV quotes a value holding the separator, so distinct keys never read the same.
    digest.update(keys.to_csv(index=False, header=False).encode())
    numbers = np.asarray(values, dtype=np.float64)
    # Counts are non-negative: -1 stands for a hidden one (NaN bit patterns can differ).
    digest.update(np.where(np.isnan(numbers), -1.0, numbers).tobytes())
    return digest.hexdigest()
