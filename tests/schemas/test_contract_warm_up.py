"""`warm_up` pays the contract check's first-use costs ahead of the first batch."""

from __future__ import annotations

import subprocess
import sys

import pandera.polars as pa
import polars as pl
import pytest

from schemas.contracts import check_rows, warm_up

_PROBE = """
import sys
from schemas.contracts import POLICE_INCIDENTS, warm_up
backend = "pandera.backends.polars.builtin_checks"
before = backend in sys.modules
warm_up(POLICE_INCIDENTS)
print(before, backend in sys.modules)
"""


def test_warm_up_loads_what_the_first_check_would_load():
    # In a fresh interpreter: in this one, earlier tests have loaded everything already.
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "True"]


def test_warm_up_never_raises_and_leaves_the_real_check_to_report():
    def explode(data):
        raise RuntimeError("a check that cannot run")

    contract = pa.DataFrameSchema({"x": pa.Column(pl.Int64, pa.Check(explode))})
    warm_up(contract)  # swallowed: only an optimisation
    with pytest.raises(pa.errors.SchemaError, match="a check that cannot run"):
        check_rows(pl.DataFrame({"x": [1], "_row": [2]}), contract)
