"""Seeded synthetic feeds for the demo and the benchmarks (clearly marked synthetic).

Real police, social-services and school records about people cannot be shipped, so the demo
generates them: plausible distributions per territory and month, the same seed giving the
same bytes, and person identifiers (fake document numbers, ``SYN-...``) shared across the
three feeds so that the cross-institution indicators find overlaps. Every file starts with a
title row saying it is synthetic, which the shipped profiles skip like any title row.

A few malformed rows are planted on purpose (unknown territory, impossible dates, absent
sessions above possible ones, unknown category labels) so that quarantine has work to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

TITLE = "DATOS SINTÉTICOS generados por Convive (semilla {seed}) — no son registros reales"
POLICE_LABELS = {  # SIEDCO-style labels with a relative frequency
    "HURTO A PERSONAS": 0.46,
    "LESIONES PERSONALES": 0.17,
    "VIOLENCIA INTRAFAMILIAR": 0.12,
    "HURTO A RESIDENCIAS": 0.06,
    "HURTO DE VEHICULOS": 0.08,
    "DELITOS SEXUALES": 0.04,
    "EXTORSION": 0.02,
    "TRAFICO DE ESTUPEFACIENTES": 0.05,
}
INTERVENTIONS = {
    "APOYO FAMILIAR": 0.4,
    "PROTECCION INFANTIL": 0.25,
    "ATENCION VIF": 0.15,
    "APOYO ECONOMICO": 0.15,
    "OTRA": 0.05,
}
REFERRALS = {"POLICIA": 0.2, "COLEGIO": 0.25, "SALUD": 0.2, "PROPIA": 0.25, "OTRA": 0.1}
SCHOOL_MONTHS = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11)  # Colombian calendar A


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate: territories with populations, the years, the sizes and the seed."""

    territories: dict[str, int]  # source territory code (e.g. "01") -> population
    first_year: int = 2018
    last_year: int = 2023
    police_rows: int = 60_000
    students: int = 2_000
    social_cases: int = 6_000
    bad_rows: int = 3  # malformed rows planted per feed
    seed: int = 20_240_601


def write_synthetic_feeds(spec: SyntheticSpec, folder: Path) -> dict[str, Path]:
    """Write the three synthetic feeds into `folder`; return their paths by feed name."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    codes = np.array(sorted(spec.territories))
    weights = np.array([spec.territories[c] for c in codes], dtype=float)
    # Territories differ: a fixed risk multiplier per territory.
    risk = rng.lognormal(0.0, 0.35, len(codes))
    students = _students(spec, rng, codes, weights)
    paths = {
        "school_absence": folder / "synthetic_school_absence.csv",
        "social_cases": folder / "synthetic_social_cases.csv",
        "police_incidents": folder / "synthetic_police_incidents.csv",
    }
    absence = _absence(spec, rng, students)
    _write(absence, paths["school_absence"], spec.seed, ";", "cp1252")
    social = _social_cases(spec, rng, codes, weights * risk, students)
    _write(social, paths["social_cases"], spec.seed, ";", "utf-8-sig")
    police = _police(spec, rng, codes, weights * risk, students)
    _write(police, paths["police_incidents"], spec.seed, ",", "utf-8")
    return paths


def _months(spec: SyntheticSpec) -> list[date]:
    return [date(y, m, 1) for y in range(spec.first_year, spec.last_year + 1) for m in range(1, 13)]


def _students(spec, rng, codes, weights) -> pl.DataFrame:
    n = spec.students
    comuna = rng.choice(codes, n, p=weights / weights.sum())
    # Most pupils miss a few sessions; a tail is chronically absent (beta skew).
    propensity = rng.beta(1.2, 14.0, n)
    return pl.DataFrame(
        {
            "DOCUMENTO": [f"SYN-{i:07d}" for i in range(n)],
            "COMUNA": comuna,
            "COD_INSTITUCION": [
                f"SYN-IE-{c}{k}" for c, k in zip(comuna, rng.integers(1, 4, n), strict=True)
            ],
            "propension": propensity,
            "edad": rng.integers(6, 18, n),
        }
    )


def _absence(spec, rng, students: pl.DataFrame) -> pl.DataFrame:
    months = [m for m in _months(spec) if m.month in SCHOOL_MONTHS]
    n, k = len(students), len(months)
    possible = rng.integers(16, 23, (n, k))
    rate = np.clip(students["propension"].to_numpy()[:, None] * rng.lognormal(0, 0.5, (n, k)), 0, 1)
    absent = rng.binomial(possible, rate)
    unjustified = rng.binomial(absent, 0.45)
    frame = pl.DataFrame(
        {
            "DOCUMENTO": np.repeat(students["DOCUMENTO"].to_numpy(), k),
            "COD_INSTITUCION": np.repeat(students["COD_INSTITUCION"].to_numpy(), k),
            "COMUNA": np.repeat(students["COMUNA"].to_numpy(), k),
            "PERIODO": np.tile([f"{m.month:02d}/{m.year}" for m in months], n),
            "SESIONES_POSIBLES": possible.ravel(),
            "SESIONES_AUSENTE": absent.ravel(),
            "SESIONES_INJUSTIFICADAS": unjustified.ravel(),
        }
    )
    frame = frame.with_columns(pl.col(c).cast(pl.Utf8) for c in frame.columns)
    return _plant(
        frame, rng, spec.bad_rows, {"SESIONES_AUSENTE": "99", "COMUNA": "77", "PERIODO": "13/2020"}
    )


def _social_cases(spec, rng, codes, weights, students: pl.DataFrame) -> pl.DataFrame:
    n = spec.social_cases
    months = _months(spec)
    days = (months[-1].replace(day=28) - months[0]).days
    opened = np.datetime64(months[0]) + rng.integers(0, days, n).astype("timedelta64[D]")
    duration = rng.exponential(240, n).astype(int)
    closed = opened + duration.astype("timedelta64[D]")
    still_open = closed > np.datetime64(months[-1].replace(day=28))
    # Children with high absence are more often known to social services (the overlap).
    pupils = students.sort("propension", descending=True).head(max(1, len(students) // 4))
    is_pupil = rng.random(n) < 0.35
    pick = rng.integers(0, len(pupils), n)
    person = np.where(
        is_pupil,
        pupils["DOCUMENTO"].to_numpy()[pick],
        [f"SYN-A{i:07d}" for i in rng.integers(0, n * 3, n)],
    )
    comuna = np.where(
        is_pupil, pupils["COMUNA"].to_numpy()[pick], rng.choice(codes, n, p=weights / weights.sum())
    )
    age = np.where(is_pupil, pupils["edad"].to_numpy()[pick], rng.integers(0, 90, n))
    frame = pl.DataFrame(
        {
            "ID_CASO": [f"SYN-C{i:07d}" for i in range(n)],
            "DOCUMENTO": person,
            "SEXO": rng.choice(["F", "M"], n),
            "EDAD": age.astype(str),
            "COMUNA": comuna,
            "FECHA_APERTURA": [
                str(d.astype("datetime64[D]").item().strftime("%d/%m/%Y")) for d in opened
            ],
            "FECHA_CIERRE": [
                "" if o else d.astype("datetime64[D]").item().strftime("%d/%m/%Y")
                for d, o in zip(closed, still_open, strict=True)
            ],
            "TIPO_INTERVENCION": rng.choice(list(INTERVENTIONS), n, p=list(INTERVENTIONS.values())),
            "REMITENTE": rng.choice(list(REFERRALS), n, p=list(REFERRALS.values())),
        }
    )
    return _plant(
        frame,
        rng,
        spec.bad_rows,
        {"FECHA_APERTURA": "31/02/2021", "COMUNA": "77", "REMITENTE": "DESCONOCIDO"},
    )


def _police(spec, rng, codes, weights, students: pl.DataFrame) -> pl.DataFrame:
    n = spec.police_rows
    months = _months(spec)
    first = np.datetime64(months[0])
    days = (np.datetime64(months[-1].replace(day=28)) - first).astype(int)
    when = first + rng.integers(0, days, n).astype("timedelta64[D]")
    label = rng.choice(list(POLICE_LABELS), n, p=list(POLICE_LABELS.values()))
    minor = rng.random(n) < np.where(
        np.isin(label, ["VIOLENCIA INTRAFAMILIAR", "DELITOS SEXUALES"]), 0.3, 0.04
    )
    pupil = rng.integers(0, len(students), n)
    age = np.where(minor, students["edad"].to_numpy()[pupil], rng.integers(18, 80, n))
    frame = pl.DataFrame(
        {
            "ID_INCIDENTE": [f"SYN-P{i:08d}" for i in range(n)],
            "FECHA": [str(d) for d in when.astype("datetime64[D]")],
            "HORA": [
                f"{h:02d}:{m:02d}"
                for h, m in zip(rng.integers(0, 24, n), rng.integers(0, 60, n), strict=True)
            ],
            "COMUNA": rng.choice(codes, n, p=weights / weights.sum()),
            "DELITO": label,
            "SEXO_VICTIMA": rng.choice(["HOMBRE", "MUJER", "NO REPORTA"], n, p=[0.52, 0.46, 0.02]),
            "EDAD_VICTIMA": age.astype(str),
            "DOC_MENOR": np.where(minor, students["DOCUMENTO"].to_numpy()[pupil], ""),
            "VIF": np.where(label == "VIOLENCIA INTRAFAMILIAR", "SI", "NO"),
        }
    )
    return _plant(
        frame,
        rng,
        spec.bad_rows,
        {"FECHA": "2021-13-45", "COMUNA": "77", "DELITO": "ABIGEATO LUNAR"},
    )


def _plant(frame: pl.DataFrame, rng, count: int, defects: dict[str, str]) -> pl.DataFrame:
    """Overwrite one column of `count` random rows with a value that breaks the contract."""
    rows = rng.choice(len(frame), min(count, len(frame)), replace=False)
    columns = list(defects)
    for i, row in enumerate(sorted(rows)):
        column = columns[i % len(columns)]
        frame[int(row), column] = defects[column]
    return frame


def _write(frame: pl.DataFrame, path: Path, seed: int, delimiter: str, encoding: str) -> None:
    body = frame.select(c for c in frame.columns if c not in ("propension", "edad"))
    text = TITLE.format(seed=seed) + "\n" + body.write_csv(separator=delimiter)
    path.write_bytes(text.encode(encoding))
