"""Source profiles: the declarative files that map a real source onto a canonical table.

A data team onboards a feed by writing a profile (TOML), not code. `load_profile` validates
it with pydantic and reports any mistake with the profile's file name, line and key.
Every option is explained in docs/onboarding-a-feed.md (a test keeps the two in step).
"""

from __future__ import annotations

import csv
import re
import string
import tomllib
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectors.errors import SourceError
from schemas.code_lists import FIGURE_STATUSES
from schemas.contracts import CONTRACTS, REFERENCE_CONTRACTS

PROFILES_DIR = Path(__file__).parent / "profiles"
ALL_CONTRACTS = {**CONTRACTS, **REFERENCE_CONTRACTS}

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
    "school_year",
]
_NEEDS_FORMATS = ("date", "time", "period")


def check_regex(pattern: str) -> str:
    """Reject a pattern that Python or Arrow (RE2: no look-arounds, no back-references)
    cannot compile, so a profile never fails half-way through a file."""
    try:
        re.compile(pattern)
        pc.match_substring_regex(pa.array([""], pa.string()), pattern=pattern)
    except (re.error, pa.ArrowInvalid) as error:
        raise ValueError(f"bad regular expression {pattern!r}: {error}") from None
    return pattern


def template_fields(template: str) -> list[str]:
    """The column names a template such as "{AÑO}-{MES}" refers to (ValueError if malformed)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"bad template {template!r}: {error}") from None
    fields = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name or spec or conversion:
            raise ValueError(f"template {template!r}: write plain column names as {{name}}")
        fields.append(name)
    if not fields:
        raise ValueError(f"template {template!r} names no column; use 'value' for a constant")
    return fields


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
    """How one canonical column is computed from the source row.

    Steps, in order: origin (`from`, `template`, `value` or `hash_of`), `sentinels`,
    `extract`, `map` (with `map_file` and `default`), `parse`, then `scale`, `width` and
    `prefix`.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: str | None = Field(None, alias="from")
    value: str | int | float | bool | None = None
    hash_of: list[str] | None = None
    template: str | None = None
    extract: str | None = None
    sentinels: dict[str, str] | None = None
    parse: ParseKind = "text"
    formats: list[str] = []
    decimal: str = "."
    thousands: str | None = None
    scale: float | None = None
    width: int | None = Field(None, ge=1)
    prefix: str = ""
    map: dict[str, str] | None = None
    map_file: str | None = None
    default: str | None = None
    true_values: list[str] = ["true", "1", "si", "sí", "yes", "s", "x"]
    false_values: list[str] = ["false", "0", "no", "n", ""]

    @field_validator("template")
    @classmethod
    def _template(cls, template: str | None) -> str | None:
        if template is not None:
            template_fields(template)
        return template

    @field_validator("extract")
    @classmethod
    def _extract(cls, pattern: str | None) -> str | None:
        if pattern is not None and re.compile(check_regex(pattern)).groups > 1:
            raise ValueError("'extract' may capture one group at most (write (?:...))")
        return pattern

    @field_validator("sentinels")
    @classmethod
    def _statuses(cls, sentinels: dict[str, str] | None) -> dict[str, str] | None:
        unknown = sorted(set((sentinels or {}).values()) - set(FIGURE_STATUSES))
        if unknown:
            raise ValueError(f"statuses {unknown} are not in {', '.join(FIGURE_STATUSES)}")
        return _distinct_labels(sentinels)

    @field_validator("map")
    @classmethod
    def _labels(cls, mapping: dict[str, str] | None) -> dict[str, str] | None:
        return _distinct_labels(mapping)

    @field_validator("decimal", "thousands")
    @classmethod
    def _separator(cls, separator: str | None) -> str | None:
        if separator is not None and len(separator) != 1:
            raise ValueError("a separator is one character")
        return separator

    @field_validator("map_file")
    @classmethod
    def _map_file_exists(cls, name: str | None, info: ValidationInfo) -> str | None:
        if name is not None:
            read_map_file(_folder(info) / name)  # reports a missing file or a bad line
        return name

    @model_validator(mode="after")
    def _options_fit(self) -> ColumnSpec:
        origins = [self.source, self.value, self.hash_of, self.template]
        if sum(origin is not None for origin in origins) != 1:
            raise ValueError("give exactly one of 'from', 'template', 'value' or 'hash_of'")
        if self.parse in _NEEDS_FORMATS and not self.formats and self.value is None:
            raise ValueError(f"parse = {self.parse!r} needs 'formats'")
        if self.scale is not None and self.parse not in ("number", "integer"):
            raise ValueError("'scale' applies to parse = 'number' or 'integer' only")
        if self.thousands is not None and self.thousands == self.decimal:
            raise ValueError(
                f"'thousands' and 'decimal' are both {self.decimal!r}: set decimal = ',' "
                "for numbers written 1.234,5"
            )
        return self

    @model_validator(mode="after")
    def _read_map_file(self, info: ValidationInfo) -> ColumnSpec:
        if self.map_file is None:
            return self
        from_file = read_map_file(_folder(info) / self.map_file)
        clashes = sorted(k for k, v in (self.map or {}).items() if from_file.get(k, v) != v)
        if clashes:
            raise ValueError(f"'map' and 'map_file' disagree on {clashes}")
        self.map = _distinct_labels({**from_file, **(self.map or {})})
        return self


def _distinct_labels(mapping: dict[str, str] | None) -> dict[str, str] | None:
    """Labels are matched trimmed and ignoring case: two spellings of one label must agree."""
    seen: dict[str, tuple[str, str]] = {}
    for label, target in (mapping or {}).items():
        key = label.strip().lower()
        if key in seen and seen[key][1] != target:
            raise ValueError(
                f"labels {seen[key][0]!r} and {label!r} are the same label (case and spaces "
                f"are ignored) but map to {seen[key][1]!r} and {target!r}"
            )
        seen[key] = (label, target)
    return mapping


def _folder(info: ValidationInfo) -> Path:
    """The folder of the profile being validated (map files are relative to it)."""
    return Path((info.context or {}).get("folder", PROFILES_DIR))


class ProfileKeyError(Exception):
    """A mistake that involves several keys: names the key whose line the error points at.

    Not a ValueError, so pydantic lets it through with its key path intact.
    """

    def __init__(self, keys: list[str], message: str) -> None:
        super().__init__(message)
        self.keys = keys
        self.message = message


class RowRule(BaseModel):
    """Which source rows are not records of the feed (totals, comparisons), and what to do."""

    model_config = ConfigDict(extra="forbid")
    name: str
    column: str
    equals: list[str] | None = None
    matches: str | None = None
    not_matches: str | None = None
    action: Literal["skip", "keep"] = "skip"
    territory_code: str | None = None

    @field_validator("matches", "not_matches")
    @classmethod
    def _pattern(cls, pattern: str | None) -> str | None:
        return None if pattern is None else check_regex(pattern)

    @model_validator(mode="after")
    def _one_condition(self) -> RowRule:
        conditions = [self.equals, self.matches, self.not_matches]
        if sum(c is not None for c in conditions) != 1:
            raise ValueError("give exactly one of 'equals', 'matches' or 'not_matches'")
        if self.territory_code is not None and self.action != "keep":
            raise ValueError("'territory_code' only applies to rules with action = 'keep'")
        return self


class Unpivot(BaseModel):
    """Wide to long: one output row per listed column, its name and its value."""

    model_config = ConfigDict(extra="forbid")
    columns: list[str] | None = None
    columns_matching: str | None = None
    name_to: str
    value_to: str
    name_extract: str | None = None

    @field_validator("columns_matching", "name_extract")
    @classmethod
    def _pattern(cls, pattern: str | None) -> str | None:
        return None if pattern is None else check_regex(pattern)

    @model_validator(mode="after")
    def _one_selection(self) -> Unpivot:
        if (self.columns is None) == (self.columns_matching is None):
            raise ValueError("give exactly one of 'columns' or 'columns_matching'")
        if self.columns is not None and not self.columns:
            raise ValueError("'columns' must list at least one column")
        if self.name_to == self.value_to:
            raise ValueError("'name_to' and 'value_to' must differ")
        return self


class YearToDate(BaseModel):
    """Figures that accumulate from January: turned into figures per period."""

    model_config = ConfigDict(extra="forbid")
    period_from: str
    pattern: str
    measures: list[str] = ["count"]
    years: Literal["all", "latest"] = "all"

    @field_validator("pattern")
    @classmethod
    def _groups(cls, pattern: str) -> str:
        check_regex(pattern)
        missing = {"year", "through"} - set(re.compile(pattern).groupindex)
        if missing:
            raise ValueError(f"'pattern' needs the named groups {sorted(missing)}")
        return pattern


class Deduplicate(BaseModel):
    """Rows that repeat a key (e.g. a territory listed once per year): keep one."""

    model_config = ConfigDict(extra="forbid")
    on: list[str] = Field(min_length=1)
    keep: Literal["first", "last"] = "first"


class SourceProfile(BaseModel):
    """A source profile: which canonical table, how to read, and how to map each column."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    feed: Literal[
        "police_incidents", "social_cases", "school_absence", "territories", "territory_population"
    ]
    title: str
    publisher: str
    synthetic: bool = False
    read: ReadOptions = ReadOptions()
    rows: list[RowRule] = []
    unpivot: Unpivot | None = None
    columns: dict[str, ColumnSpec]
    year_to_date: YearToDate | None = None
    deduplicate: Deduplicate | None = None

    @property
    def whole_file(self) -> bool:
        """Whether the profile needs every row of the file before checking any (year-to-date
        differences and de-duplication look across rows); such files are held in memory."""
        return self.year_to_date is not None or self.deduplicate is not None

    @model_validator(mode="after")
    def _columns_match_contract(self) -> SourceProfile:
        contract = ALL_CONTRACTS[self.feed].columns
        canonical = set(contract) - {"source"}
        filled = set(_filled_by_year_to_date(self))
        required = {n for n in canonical if not contract[n].nullable} - filled
        missing = sorted(required - set(self.columns))
        unknown = sorted(set(self.columns) - canonical)
        if missing:
            raise ProfileKeyError(
                ["columns"], f"columns missing for feed {self.feed}: {', '.join(missing)}"
            )
        if unknown:
            raise ProfileKeyError(
                ["columns", unknown[0]], f"columns not in feed {self.feed}: {', '.join(unknown)}"
            )
        return self

    @model_validator(mode="after")
    def _tables_fit(self) -> SourceProfile:
        names = set(self.columns)
        contract = ALL_CONTRACTS[self.feed].columns
        if self.year_to_date is not None:
            if "reference_period" not in contract:
                raise ProfileKeyError(
                    ["year_to_date"],
                    f"year_to_date needs a feed with reference_period: {self.feed}",
                )
            clash = sorted(set(_filled_by_year_to_date(self)) & names)
            if clash:
                raise ProfileKeyError(
                    ["columns", clash[0]], f"year_to_date fills {clash}: remove them from [columns]"
                )
            odd = sorted(set(self.year_to_date.measures) - names)
            if odd:
                raise ProfileKeyError(
                    ["year_to_date", "measures"], f"measures are not mapped columns: {odd}"
                )
        if self.deduplicate is not None:
            odd = sorted(set(self.deduplicate.on) - names)
            if odd:
                raise ProfileKeyError(
                    ["deduplicate", "on"], f"names columns the profile does not map: {odd}"
                )
        for name, spec in self.columns.items():
            if spec.sentinels and "figure_status" not in contract:
                raise ProfileKeyError(
                    ["columns", name, "sentinels"],
                    f"feed {self.feed} has no figure_status column to record sentinels",
                )
        return self


def _filled_by_year_to_date(profile: SourceProfile) -> tuple[str, ...]:
    return ("reference_period", "occurred_date") if profile.year_to_date else ()


def read_map_file(path: Path) -> dict[str, str]:
    """A value map kept in a CSV file: header `from,to`, then one label and its value a line.

    Blank lines and lines starting with '#' (sources, licences) are ignored. Raises
    ValueError naming the file and line of a malformed or contradictory entry.
    """
    if not path.is_file():
        raise ValueError(f"map_file {path} does not exist")
    mapping: dict[str, str] = {}
    header_seen = False
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = [f.strip() for f in next(csv.reader([line]))]
            where = f"map_file {path} line {number}"
            if not header_seen:
                if fields != ["from", "to"]:
                    raise ValueError(f"{where}: the header must be 'from,to', not {fields}")
                header_seen = True
                continue
            if len(fields) != 2 or not fields[0]:
                raise ValueError(f"{where}: expected 'label,value', got {fields}")
            if mapping.get(fields[0], fields[1]) != fields[1]:
                raise ValueError(f"{where}: {fields[0]!r} is mapped twice, differently")
            mapping[fields[0]] = fields[1]
    if not header_seen:
        raise ValueError(f"map_file {path} is empty (it needs the header 'from,to')")
    return mapping


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
        return SourceProfile.model_validate(data, context={"folder": path.parent})
    except ProfileKeyError as error:
        where = ".".join(error.keys)
        raise SourceError(
            str(path), _line_of(text, error.keys), "profile-schema", f"{where}: {error.message}"
        ) from None
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
    """Best-effort line of the deepest key that appears in the TOML text.

    List positions (`rows.2.matches`) count `[[rows]]` headers, so the third rule is found.
    """
    line: int | None = None
    start = 0
    lines = text.splitlines()
    previous = ""
    for key in keys:
        if key.isdigit():
            headers = [n for n in range(start, len(lines)) if lines[n].strip() == f"[[{previous}]]"]
            if int(key) < len(headers):
                line, start = headers[int(key)] + 1, headers[int(key)]
            previous = key
            continue
        pattern = re.compile(rf'(^|[\s.\["]){re.escape(key)}(["\]\s.=]|$)')
        for number in range(start, len(lines)):
            if pattern.search(lines[number]):
                line, start = number + 1, number
                break
        previous = key
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
