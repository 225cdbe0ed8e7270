"""Indicator values from the warehouse, protected and packaged as open datasets."""

from __future__ import annotations

import calendar

import pandas as pd
from sqlalchemy import Engine, select

from publish.disclosure_cache import DisclosureCache
from publish.disclosure_gate import AggregateTable, check_disclosure
from publish.disclosure_report import DisclosureReport
from publish.package import DatasetPackage, FieldDoc
from publish.small_cells import SUPPRESSED_MARKER, SmallCellRule, protect_table
from warehouse.indicator_periods import shift_period
from warehouse.indicators import Indicator, read_indicator
from warehouse.tables import indicator_values, territories

THEME_BY_OWNER = {"Policía": "security", "Educación": "education"}
INDICATOR_COLUMNS = [column.name for column in indicator_values.columns]


def indicator_package(
    engine: Engine,
    indicator: Indicator,
    *,
    rule: SmallCellRule,
    periods: tuple[str, str],
    root: tuple[str, str],
    synthetic: bool,
    sources: list[str],
    cache: DisclosureCache | None = None,
) -> DatasetPackage:
    """Protect one indicator's values and describe them as a dataset.

    A `cache` reuses the suppression pattern and audit verdict of every period whose values
    did not change since they were stored (the output is the same as without it).
    """
    # The columns are named even when the indicator has no rows (it publishes empty).
    rows = pd.DataFrame(read_indicator(engine, indicator.id), columns=INDICATOR_COLUMNS)
    rows = rows[(rows["period"] >= periods[0]) & (rows["period"] <= periods[1])]
    dimensions = ["territory_code", "period", "breakdown"]
    hierarchies = _hierarchies(engine, rows, indicator)
    derived = ["numerator", "value"] + ([] if _public_denominator(indicator) else ["denominator"])
    protected = protect_table(
        rows,
        count="units",
        dimensions=dimensions,
        hierarchies=hierarchies,
        rule=rule,
        derived=derived,
        cache=cache,
    )
    name = f"convive-{root[0]}-{indicator.id.replace('_', '-')}"
    published = protected.for_publication()  # never the reasons: primary looks like secondary
    # The last check before anything is written: the LP attacker on what will be published.
    check_disclosure(
        aggregates={
            name: AggregateTable(
                cells=published.drop(columns=["units_flag"]),
                count="units",
                dimensions=dimensions,
                hierarchies=hierarchies,
                rule=rule,
                derived=derived,
            )
        },
        cache=cache,
    )
    report = DisclosureReport(dataset=name, tables={name: protected.report})
    table = _published_columns(engine, published, indicator)
    last_year, last_month = int(periods[1][:4]), int(periods[1][5:])
    end_day = calendar.monthrange(last_year, last_month)[1]
    return DatasetPackage(
        name=name,
        title=f"{indicator.name_es} — {root[1]}",
        title_en=f"{indicator.name_en} — {root[1]}",
        description=_description(indicator, synthetic),
        keywords=["convivencia", "seguridad", indicator.owner.lower(), root[1]],
        theme=THEME_BY_OWNER.get(indicator.owner, "society"),
        frequency=indicator.periodicity,
        temporal_start=f"{periods[0]}-01",
        temporal_end=f"{periods[1]}-{end_day:02d}",
        spatial_code=root[0],
        spatial_name=root[1],
        synthetic=synthetic,
        table=table,
        fields=_fields(indicator),
        disclosure=report.to_dict(),
        disclosure_text=report.to_text(),
        sources=sources,
    )


def _public_denominator(indicator: Indicator) -> bool:
    # Population is public; counts of sessions or of pupils are not.
    return "Población" in indicator.denominator


def _hierarchies(engine: Engine, rows: pd.DataFrame, indicator: Indicator) -> dict:
    with engine.connect() as conn:
        parents = {
            r.code: r.parent_code
            for r in conn.execute(select(territories.c.code, territories.c.parent_code))
            if r.parent_code
        }
    hierarchies = {"territory_code": parents}
    if indicator.breakdown != "all":
        hierarchies["breakdown"] = {b: "all" for b in rows["breakdown"].unique() if b != "all"}
    return hierarchies


def _published_columns(engine: Engine, cells: pd.DataFrame, indicator: Indicator) -> pd.DataFrame:
    """The published table: named territories, rounded figures, the suppression status.

    Figures are float64 whatever the cells hold: a column with no value at all in the window
    (every cell null: no denominator, nothing recorded) comes from the database as Python
    None, which cannot be rounded, and must still publish as a numeric column (empty cells).
    """
    numeric = {
        c: pd.to_numeric(cells[c]).astype("float64") for c in ("numerator", "denominator", "value")
    }
    cells = cells.astype(
        {c: "str" for c in ("territory_code", "territory_level", "period", "breakdown")}
    )  # typed even with no rows
    with engine.connect() as conn:
        names = {
            r.code: r.name for r in conn.execute(select(territories.c.code, territories.c.name))
        }
    table = pd.DataFrame(
        {
            "territory_code": cells["territory_code"],
            "territory_name": cells["territory_code"].map(names),
            "territory_level": cells["territory_level"],
            "period": cells["period"],
            "breakdown": cells["breakdown"],
            "numerator": numeric["numerator"].round(6),
            "value": numeric["value"].round(4),
            "status": cells["units_flag"],
        }
    )
    if _public_denominator(indicator):
        table.insert(6, "denominator", numeric["denominator"])
    return table.sort_values(["territory_code", "period", "breakdown"]).reset_index(drop=True)


def _description(indicator: Indicator, synthetic: bool) -> str:
    text = (
        f"{indicator.definition} Numerador: {indicator.numerator}. "
        f"Denominador: {indicator.denominator}. Unidad: {indicator.unit}. "
        f"Fuente: {indicator.owner}. Los valores de celdas pequeñas se suprimen "
        f"(status = '{SUPPRESSED_MARKER}'), con supresión secundaria en los totales."
    )
    if synthetic:
        text += " AVISO: este conjunto se calcula con DATOS SINTÉTICOS de demostración."
    return text


def _fields(indicator: Indicator) -> list[FieldDoc]:
    fields = [
        FieldDoc("territory_code", "string", "Código del territorio (DANE/DIVIPOLA + comuna)"),
        FieldDoc("territory_name", "string", "Nombre del territorio"),
        FieldDoc("territory_level", "string", "Nivel: municipality, district (comuna), ..."),
        FieldDoc("period", "string", "Mes, AAAA-MM"),
        FieldDoc("breakdown", "string", "Desagregación ('all' = total)"),
        FieldDoc("numerator", "number", f"{indicator.numerator}; vacío si suprimido"),
    ]
    if _public_denominator(indicator):
        fields.append(FieldDoc("denominator", "number", indicator.denominator))
    fields += [
        FieldDoc("value", "number", f"{indicator.name_es} ({indicator.unit}); vacío si suprimido"),
        FieldDoc(
            "status",
            "string",
            f"'{SUPPRESSED_MARKER}' si el valor se retiene por control de revelación",
        ),
    ]
    return fields


# Change indices reveal their comparison count (numerator / value x 100): where that count is
# suppressed in the base table, the index must be withheld too.
COMPARED_WITH: dict[str, tuple[str, int]] = {
    "incidents_vs_previous_month": ("incidents_per_10k", -1),
    "incidents_vs_year_earlier": ("incidents_per_10k", -12),
}


def withhold_revealing_values(
    table: pd.DataFrame, base: pd.DataFrame, months: int
) -> tuple[pd.DataFrame, int]:
    """Blank (status [c]) every value whose comparison cell is suppressed in `base`."""
    hidden = set(
        base.loc[
            base["status"] == SUPPRESSED_MARKER, ["territory_code", "period", "breakdown"]
        ].itertuples(index=False, name=None)
    )
    compared = [
        (t, shift_period(p, months), b)
        for t, p, b in table[["territory_code", "period", "breakdown"]].itertuples(
            index=False, name=None
        )
    ]
    revealing = pd.Series([key in hidden for key in compared], index=table.index)
    revealing &= table["status"] != SUPPRESSED_MARKER
    table = table.copy()
    table.loc[revealing, "value"] = float("nan")
    table.loc[revealing, "status"] = SUPPRESSED_MARKER
    return table, int(revealing.sum())
