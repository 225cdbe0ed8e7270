"""Source profiles: the declarative files that map a real source onto a canonical table.

A data team onboards a feed by writing a profile (TOML), not code. `load_profile` validates
it with pydantic and reports any mistake with the profile's file name, line and key.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connectors.errors import SourceError
from schemas.contracts import CONTRACTS

PROFILES_DIR = Path(__file__).parent / "profiles"

ParseKind = Literal[
    "text",
    "number",
    "integer",
    "date",
    "time",
    "code",
    "age_group",
    "minor",
    "boolean",
    "pseudonym",
    "period",
]


class ReadOptions(BaseModel):
    """How to read the source file (see docs/onboarding-a-feed.md)."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["csv", "json", "ndjson", "parquet", "xlsx", "xls"] = "csv"
    encoding: str = "auto"
    delimiter: str = "auto"
    quotechar: str = '"'
    skip_rows: int = Field(0, ge=0)
    footer_rows: int = Field(0, ge=0)
    drop_rows_matching: str | None = None
    sheet: str | None = None  # xlsx/xls: the sheet to read (the first when not given)
    records_path: str | None = None  # json: dotted path of the records array ("data.items")


class ColumnSpec(BaseModel):
    """How one canonical column is computed from the source row."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: str | None = Field(None, alias="from")
    value: str | int | float | bool | None = None
    hash_of: list[str] | None = None
    parse: ParseKind = "text"
    formats: list[str] = []
    decimal: str = "."
    thousands: str | None = None
    width: int | None = None
    prefix: str = ""
    map: dict[str, str] | None = None
    default: str | None = None
    true_values: list[str] = ["true", "1", "si", "sí", "yes", "s", "x"]
    false_values: list[str] = ["false", "0", "no", "n", ""]

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnSpec:
        origins = [self.source is not None, self.value is not None, self.hash_of is not None]
        if sum(origins) != 1:
            raise ValueError("give exactly one of 'from', 'value' or 'hash_of'")
        return self


class SourceProfile(BaseModel):
    """A source profile: which canonical feed, how to read, and how to map each column."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    feed: Literal["police_incidents", "social_cases", "school_absence"]
    title: str
    publisher: str
    synthetic: bool = False
    read: ReadOptions = ReadOptions()
    columns: dict[str, ColumnSpec]

    @model_validator(mode="after")
    def _columns_match_contract(self) -> SourceProfile:
        contract = CONTRACTS[self.feed].columns
        canonical = set(contract) - {"source"}
        required = {name for name in canonical if not contract[name].nullable}
        missing = sorted(required - set(self.columns))
        unknown = sorted(set(self.columns) - canonical)
        if missing:
            raise ValueError(f"columns missing for feed {self.feed}: {', '.join(missing)}")
        if unknown:
            raise ValueError(f"columns not in feed {self.feed}: {', '.join(unknown)}")
        return self


def load_profile(path: str | Path) -> SourceProfile:
    """Read and validate a profile; a mistake raises SourceError naming file, line and key."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # Python 3.11's TOMLDecodeError only carries the position in its message.
        found = re.search(r"at line (\d+)", str(error))
        line = int(found.group(1)) if found else None
        raise SourceError(str(path), line, "profile-syntax", str(error)) from None
    try:
        return SourceProfile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        keys = [str(k) for k in first["loc"]]
        raise SourceError(
            str(path),
            _line_of(text, keys),
            "profile-schema",
            f"{'.'.join(keys) or '(top level)'}: {first['msg']}",
        ) from None


def find_profile(name: str, search: list[Path] | None = None) -> Path:
    """Resolve a profile name or path: a path as given, else `<name>.toml` in the shipped set."""
    candidate = Path(name)
    if candidate.suffix == ".toml" and candidate.exists():
        return candidate
    for folder in [*(search or []), PROFILES_DIR]:
        path = folder / f"{name}.toml"
        if path.exists():
            return path
    raise FileNotFoundError(f"no source profile named {name!r}")


def _line_of(text: str, keys: list[str]) -> int | None:
    """Best-effort line of the deepest key that appears in the TOML text."""
    line: int | None = None
    start = 0
    lines = text.splitlines()
    for key in keys:
        pattern = re.compile(rf'(^|[\s.\["]){re.escape(key)}(["\]\s.=]|$)')
        for number in range(start, len(lines)):
            if pattern.search(lines[number]):
                line, start = number + 1, number
                break
    return line


def profile_summary(profile: SourceProfile) -> dict[str, Any]:
    """A small description of the profile for reports and metadata."""
    return {
        "id": profile.id,
        "feed": profile.feed,
        "title": profile.title,
        "publisher": profile.publisher,
        "synthetic": profile.synthetic,
    }
