"""Canonical code lists shared by every feed, the warehouse and the published data."""

from __future__ import annotations

# Canonical incident categories. Source labels (SIEDCO, Ministerio del Interior, municipal
# police) are mapped onto these by each source profile.
INCIDENT_CATEGORIES: dict[str, dict[str, str]] = {
    "homicide": {"es": "Homicidio", "en": "Homicide"},
    "injury": {"es": "Lesiones personales", "en": "Assault causing injury"},
    "theft_person": {"es": "Hurto a personas", "en": "Theft from the person"},
    "theft_home": {"es": "Hurto a residencias", "en": "Burglary"},
    "theft_vehicle": {"es": "Hurto de vehículos", "en": "Vehicle theft"},
    "domestic_violence": {"es": "Violencia intrafamiliar", "en": "Domestic violence"},
    "sexual_offence": {"es": "Delitos sexuales", "en": "Sexual offences"},
    "extortion": {"es": "Extorsión", "en": "Extortion"},
    "drug_offence": {"es": "Tráfico de drogas", "en": "Drug offences"},
    "other": {"es": "Otros", "en": "Other"},
    # Added for the Spanish Ministry of Interior balance and the Colombian municipal table,
    # whose typologies are coarser or finer than the municipal police labels above.
    "attempted_homicide": {"es": "Homicidio en grado de tentativa", "en": "Attempted homicide"},
    "kidnapping": {"es": "Secuestro", "en": "Kidnapping"},
    "robbery": {"es": "Robo con violencia o intimidación", "en": "Robbery"},
    "burglary": {
        "es": "Robo con fuerza en domicilios, establecimientos y otras instalaciones",
        "en": "Burglary (homes, businesses and other premises)",
    },
    "theft": {"es": "Hurto", "en": "Theft"},
    "theft_business": {"es": "Hurto a comercio", "en": "Theft from businesses"},
    "cyber_fraud": {"es": "Estafa informática", "en": "Computer fraud"},
    "cybercrime": {"es": "Otros ciberdelitos", "en": "Other cybercrime"},
}

# Categories that are never published at record level, only as protected aggregates.
SENSITIVE_CATEGORIES: frozenset[str] = frozenset({"domestic_violence", "sexual_offence"})

SEXES: dict[str, str] = {"F": "Mujer / Female", "M": "Hombre / Male", "U": "Desconocido / Unknown"}

# Age groups: five-year bands with the legal age of majority (18) kept as a boundary.
AGE_GROUPS: tuple[tuple[str, int, int], ...] = (
    ("0-4", 0, 4),
    ("5-9", 5, 9),
    ("10-14", 10, 14),
    ("15-17", 15, 17),
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55-64", 55, 64),
    ("65+", 65, 200),
)
UNKNOWN_AGE_GROUP = "unknown"
AGE_GROUP_CODES: tuple[str, ...] = tuple(g for g, _, _ in AGE_GROUPS) + (UNKNOWN_AGE_GROUP,)
MINOR_AGE_GROUPS: frozenset[str] = frozenset({"0-4", "5-9", "10-14", "15-17"})

REFERRAL_SOURCES: dict[str, str] = {
    "police": "Policía / Police",
    "school": "Centro educativo / School",
    "health": "Salud / Health services",
    "self": "Iniciativa propia / Self-referral",
    "other": "Otra / Other",
    "unknown": "Desconocida / Unknown (counts published without a referral source)",
}

INTERVENTION_TYPES: dict[str, str] = {
    "family_support": "Apoyo familiar / Family support",
    "child_protection": "Protección de menores / Child protection",
    "domestic_violence_support": "Atención violencia intrafamiliar / Domestic violence support",
    "economic_support": "Apoyo económico / Economic support",
    "other": "Otra / Other",
    "shelter": "Alojamiento de emergencia / Emergency shelter",
}

# Why a published figure is absent. Null in a `figure_status` column means "as published".
# Listed from the most to the least severe: a row with several absent figures gets the first.
FIGURE_STATUSES: dict[str, str] = {
    "suppressed": "Suprimida por confidencialidad / Suppressed (disclosure control)",
    "missing": "No disponible / Missing in the source",
    "not_applicable": "No aplica / Not applicable",
}

TERRITORY_LEVELS: tuple[str, ...] = (
    "country",
    "region",
    "province",
    "municipality",
    "district",
    "neighbourhood",
    "police_quadrant",
)


def age_group(age: int | None) -> str:
    """Return the canonical age group for an age in years (unknown for None or negative)."""
    if age is None or age < 0:
        return UNKNOWN_AGE_GROUP
    for code, low, high in AGE_GROUPS:
        if low <= age <= high:
            return code
    return UNKNOWN_AGE_GROUP
