"""A dataset package: what every publish target receives (metadata + tables to write)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# Sector taxonomy of datos.gob.es (NTI-RISP) and the EU data themes, by indicator owner.
NTI_SECTOR = "http://datos.gob.es/kos/sector-publico/sector/"
EU_THEME = "http://publications.europa.eu/resource/authority/data-theme/"
THEMES = {
    "security": (NTI_SECTOR + "seguridad", EU_THEME + "JUST"),
    "society": (NTI_SECTOR + "sociedad-bienestar", EU_THEME + "SOCI"),
    "education": (NTI_SECTOR + "educacion", EU_THEME + "EDUC"),
}


@dataclass(frozen=True)
class FieldDoc:
    """One column of a published table, for the data dictionary."""

    name: str
    type: str
    description: str


@dataclass
class DatasetPackage:
    """Metadata plus the protected table of one dataset."""

    name: str  # deterministic slug, also the CKAN dataset name
    title: str
    title_en: str
    description: str
    keywords: list[str]
    theme: str  # key of THEMES
    frequency: str  # e.g. "monthly"
    temporal_start: str  # ISO date
    temporal_end: str
    spatial_code: str
    spatial_name: str
    synthetic: bool
    table: pd.DataFrame
    fields: list[FieldDoc]
    disclosure: dict
    sources: list[str] = field(default_factory=list)
    disclosure_text: str = ""  # the disclosure report for people (Spanish / English)
