"""convive.toml: the demo's validates; a wrong value names the file and the key."""

from __future__ import annotations

import pytest

from flows.config import ConfigError, load_config
from tests.conftest import DEMO_DIR, write_demo_config


def test_demo_configuration_is_valid_and_paths_resolve():
    config = load_config(DEMO_DIR / "convive.toml")
    assert [f.name for f in config.feeds][0] == "homicidios-medellin"
    assert config.path(config.territories.boundaries).is_file()
    assert config.warehouse_url == f"duckdb:///{DEMO_DIR / 'work' / 'warehouse.duckdb'}"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            "chronic_absence_threshold = 0.10",
            "chronic_absence_threshold = 10",
            "indicators.chronic_absence_threshold",
        ),
        ('url = "duckdb:///work/warehouse.duckdb"', 'url = "mysql://x"', "warehouse.url"),
        ('preset = "below-5"', 'preset = "below-3"', "disclosure.preset"),
        ("max_rejected_share = 0.01", "max_rejectd_share = 0.01", "feeds.0.max_rejectd_share"),
    ],
)
def test_wrong_value_names_file_and_key(tmp_path, old, new, key):
    path = write_demo_config(tmp_path, **{old: new})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: {key}: ")


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[project\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")
