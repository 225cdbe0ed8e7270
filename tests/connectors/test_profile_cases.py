"""The source-profile bad-input corpus (tests/cases/profiles/cases.toml): each case gives its
expected outcome, a clear error naming file, line and rule, or quarantine with the reasons."""

from __future__ import annotations

import fnmatch
import tomllib

import pytest

from connectors.errors import SourceError
from connectors.feed_batches import checked_batches
from connectors.source_profiles import load_profile
from tests.conftest import CASES

FOLDER = CASES / "profiles"
MANIFEST = tomllib.loads((FOLDER / "cases.toml").read_text(encoding="utf-8"))["case"]


@pytest.mark.parametrize("case", MANIFEST, ids=lambda c: c["name"])
def test_case_gives_its_expected_outcome(case: dict):
    profile_path = FOLDER / case["profile"]
    if case["kind"] == "profile":
        with pytest.raises(SourceError) as caught:
            load_profile(profile_path)
        assert caught.value.file == str(profile_path)
        assert (caught.value.rule, caught.value.line) == (case["rule"], case["line"])
        assert case["message"] in caught.value.message
        return
    profile = load_profile(profile_path)
    source = FOLDER / case["input"]
    if case["kind"] == "source":
        with pytest.raises(SourceError) as caught:
            list(checked_batches(source, profile, secret=b"k"))
        assert caught.value.file == str(source) and caught.value.rule == case["rule"]
        assert case["message"] in caught.value.message
        return
    batches = list(checked_batches(source, profile, secret=b"k"))
    assert sum(b.valid.num_rows for b in batches) == case["valid"]
    skipped: dict[str, int] = {}
    for batch in batches:
        for name, count in batch.rows_skipped.items():
            skipped[name] = skipped.get(name, 0) + count
    assert skipped == case.get("skipped", {})
    got = sorted((q.source_row, q.reasons) for b in batches for q in b.quarantined)
    expected = case.get("quarantined", [])
    assert [line for line, _ in got] == [e["line"] for e in expected]
    for (_, reasons), wanted in zip(got, expected, strict=True):
        assert len(reasons) == len(wanted["reasons"])
        for reason, pattern in zip(reasons, wanted["reasons"], strict=True):
            # '*' stands for keyed hashes, which depend on the test secret.
            assert fnmatch.fnmatchcase(reason, pattern.replace("[", "[[]")), (reason, pattern)


def test_no_case_file_is_left_out_of_the_manifest():
    named = {c["profile"] for c in MANIFEST} | {c.get("input") for c in MANIFEST}
    named |= {"bad_map.csv", "cases.toml", "ytd_quarters.csv"}  # used by other tests
    present = {p.name for p in FOLDER.iterdir()}
    assert present <= named, present - named
