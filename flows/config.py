"""`convive.toml`: the one configuration file, validated with pydantic.

Relative paths are relative to the file's folder. Secrets never live here: only the names of
the environment variables that hold them. A wrong value is reported as
`<file>: <key>: <problem>`, never as a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    from connectors.source_profiles import SourceProfile

# A file and the profile that reads it (connectors.territory_files.ProfiledFile).
ProfiledFile = tuple[Path, "SourceProfile"]


class ConfigError(Exception):
    """The configuration file is missing or has a wrong value (message names file and key)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectConfig(_Strict):
    name: str
    publisher: str
    publisher_url: str = "https://example.org/"
    contact_email: str = "datos@example.org"
    language: str = "es"
    licence: str = "https://creativecommons.org/licenses/by/4.0/"
    base_uri: str = "https://datos.example.org/convive"
    # DCAT-AP-ES: the publisher's DIR3 code (Spanish public bodies) and the coverage IRI
    # (NTI-RISP territory, EU authority table or GeoNames). Without them the catalogue is
    # valid DCAT-AP but not DCAT-AP-ES.
    dir3_code: str | None = None
    publisher_type: str = "LocalAuthority"
    spatial_uri: str | None = None


class ProfiledFileConfig(_Strict):
    """A file read through a source profile: a shipped profile id, or a profile path
    (relative to the configuration's folder, or by name in its `profiles/` folder)."""

    profile: str
    path: Path


# The GeoJSON way of giving territories (boundaries + population, as in the Medellín demo).
_GEOJSON_KEYS = (
    "boundaries",
    "code_property",
    "name_property",
    "population",
    "population_code_property",
    "population_year_property",
    "population_value_property",
)


class TerritoriesConfig(_Strict):
    """Where territories come from: GeoJSON files, profiled files (`profiles`), or both.

    `root_code` is the territory the indicators and the catalogue are about.
    """

    root_code: str
    root_name: str
    root_level: str = "municipality"
    level: str = "district"
    boundaries: Path | None = None
    code_property: str | None = None
    name_property: str | None = None
    population: Path | None = None
    population_code_property: str | None = None
    population_year_property: str | None = None
    population_value_property: str | None = None
    code_width: int = 2
    code_prefix: str = ""
    # Territory files read through profiles with feed `territories` (INE municipalities,
    # DIVIPOLA) and population files through profiles with feed `territory_population`.
    profiles: list[ProfiledFileConfig] = []
    population_profiles: list[ProfiledFileConfig] = []

    @model_validator(mode="after")
    def _one_complete_source(self) -> TerritoriesConfig:
        given = [k for k in _GEOJSON_KEYS if getattr(self, k) is not None]
        if given and len(given) < len(_GEOJSON_KEYS):
            absent = ", ".join(k for k in _GEOJSON_KEYS if k not in given)
            raise ValueError(f"GeoJSON territories also need: {absent}")
        if not given and not self.profiles:
            raise ValueError("give GeoJSON territories (boundaries, ...) or `profiles`")
        if self.population_profiles and not self.profiles:
            raise ValueError("population_profiles need territory `profiles` to attach to")
        return self

    @property
    def from_geojson(self) -> bool:
        """Whether GeoJSON boundaries and population are configured."""
        return self.boundaries is not None


class FeedConfig(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    profile: str
    path: Path
    max_rejected_share: float = Field(0.05, ge=0, le=1)
    synthetic: bool = False  # written by `convive generate` before the run
    expected_every_days: int = Field(31, ge=1)  # `convive status` calls it stale after that
    # `convive watch`/`convive serve`: a folder that receives this feed's files (one folder
    # per feed; see docs/operations.md for the complete-file convention), and a cron
    # expression to poll `path` on (API feeds and shared drives).
    inbox: Path | None = None
    schedule: str | None = None


class WarehouseConfig(_Strict):
    url: str = "duckdb:///work/warehouse.duckdb"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if not url.startswith(("duckdb:///", "postgresql")):
            raise ValueError("must start with duckdb:/// or postgresql")
        return url


class IndicatorsConfig(_Strict):
    first_period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    last_period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    chronic_absence_threshold: float = Field(0.10, gt=0, lt=1)
    # Days after a referral within which a social-services case counts as its intervention
    # (warehouse.indicators.DEFAULT_REFERRAL_WINDOW_DAYS; docs/indicators.md).
    referral_window_days: int = Field(30, ge=0, le=366)


class DisclosureConfig(_Strict):
    preset: Literal["below-5", "ons-10-5"] = "below-5"
    rounding_base: int | None = Field(None, ge=2)
    # Record-level police incidents: k-anonymity and l-diversity of the category.
    record_level: bool = True
    k: int = Field(5, ge=2)
    l: int | None = Field(2, ge=2)  # noqa: E741 - the l of l-diversity


class CkanConfig(_Strict):
    enabled: bool = False  # or set CONVIVE_PUBLISH_CKAN=1 for one run
    url_env: str = "CONVIVE_CKAN_URL"
    token_env: str = "CONVIVE_CKAN_TOKEN"
    organization: str = Field("convive", pattern=r"^[a-z0-9_-]{2,100}$")


class QualityConfig(_Strict):
    max_feed_age_days: int = Field(3650, ge=1)  # a feed not loaded for longer fails the gate
    data_docs_dir: Path = Path("work/quality-docs")


class PublishConfig(_Strict):
    catalogue_dir: Path = Path("work/catalogue")
    ckan: CkanConfig = CkanConfig()


class SyntheticConfig(_Strict):
    seed: int = 20_240_601
    police_rows: int = Field(60_000, ge=0)
    students: int = Field(2_000, ge=1)
    social_cases: int = Field(6_000, ge=1)
    bad_rows: int = Field(3, ge=0)
    folder: Path = Path("work/inbox")


class Config(_Strict):
    project: ProjectConfig
    territories: TerritoriesConfig
    warehouse: WarehouseConfig = WarehouseConfig()
    feeds: list[FeedConfig]
    indicators: IndicatorsConfig
    disclosure: DisclosureConfig = DisclosureConfig()
    quality: QualityConfig = QualityConfig()
    publish: PublishConfig = PublishConfig()
    synthetic: SyntheticConfig | None = None
    source_file: Path = Path("convive.toml")

    @property
    def folder(self) -> Path:
        """The folder relative paths are resolved against."""
        return self.source_file.parent

    def path(self, relative: Path) -> Path:
        """Resolve a path of the configuration against its folder."""
        return relative if relative.is_absolute() else self.folder / relative

    @property
    def warehouse_url(self) -> str:
        """The warehouse URL with a relative DuckDB path resolved against the config folder."""
        url = self.warehouse.url
        if url.startswith("duckdb:///") and not url.startswith("duckdb:////"):
            rest = url.removeprefix("duckdb:///")
            if rest != ":memory:":
                return f"duckdb:///{self.path(Path(rest))}"
        return url


def load_config(path: str | Path) -> Config:
    """Read and validate `convive.toml`; raise ConfigError naming the file and the key."""
    path = Path(path).resolve()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    try:
        return Config.model_validate({**data, "source_file": path})
    except ValidationError as error:
        problems = [
            f"{path}: {'.'.join(str(k) for k in e['loc'])}: {e['msg']}" for e in error.errors()
        ]
        raise ConfigError("\n".join(problems)) from None


def territory_profile_files(config: Config) -> tuple[list[ProfiledFile], list[ProfiledFile]]:
    """The configured territory and population files with their validated profiles.

    Ready for `connectors.territory_files.read_territory_profiles(*result)`. A profile that
    cannot be found, or that loads another table, is a ConfigError naming its key.
    """
    spec = config.territories
    return (
        _profiled_files(config, spec.profiles, "profiles", "territories"),
        _profiled_files(
            config, spec.population_profiles, "population_profiles", "territory_population"
        ),
    )


def _profiled_files(
    config: Config, entries: list[ProfiledFileConfig], key: str, feed: str
) -> list[ProfiledFile]:
    # Imported here: reading a configuration must not pull in the connectors' stack.
    from connectors.errors import SourceError
    from connectors.source_profiles import find_profile, load_profile

    files: list[ProfiledFile] = []
    for number, entry in enumerate(entries):
        where = f"{config.source_file}: territories.{key}.{number}.profile"
        # A path is relative to the configuration; a name is looked up in its `profiles/`
        # folder, then among the shipped profiles (as for feeds).
        name = entry.profile
        if name.endswith(".toml"):
            name = str(config.path(Path(name)))
        try:
            profile = load_profile(find_profile(name, [config.folder / "profiles"]))
        except (FileNotFoundError, SourceError) as error:
            raise ConfigError(f"{where}: {error}") from None
        if profile.feed != feed:
            raise ConfigError(f"{where}: profile {profile.id!r} loads {profile.feed}, not {feed}")
        files.append((config.path(entry.path), profile))
    return files
