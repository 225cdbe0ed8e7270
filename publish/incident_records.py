"""Record-level police incidents as open data: k-anonymous, sensitive categories removed."""

from __future__ import annotations

import calendar

import pandas as pd
from sqlalchemy import Engine, select, text

from publish.disclosure_gate import RecordTable, check_disclosure
from publish.disclosure_report import DisclosureReport
from publish.package import DatasetPackage, FieldDoc
from publish.record_level import RecordPolicy, publishable_incidents
from warehouse.tables import RECORD_ROWS, police_incidents


def incident_records_package(
    engine: Engine,
    *,
    periods: tuple[str, str],
    root: tuple[str, str],
    synthetic: bool,
    sources: list[str],
    policy: RecordPolicy | None = None,
) -> DatasetPackage:
    """Police incidents of the window as k-anonymous records, checked by the gate."""
    policy = policy or RecordPolicy()
    table = police_incidents
    hidden = ("batch_id", "period", "reference_period")
    # Aggregate rows (counts for a year or a range of months) are not incidents.
    query = (
        select(*[c for c in table.columns if c.name not in hidden])
        .where(
            table.c.period >= periods[0],
            table.c.period <= periods[1],
            text(RECORD_ROWS[table.name]),
        )
        .order_by(table.c.source, table.c.incident_id)
    )
    with engine.connect() as conn:
        incidents = pd.DataFrame(conn.execute(query).mappings().all())
    incidents["occurred_date"] = pd.to_datetime(incidents["occurred_date"])
    records, record_report = publishable_incidents(incidents, policy)
    name = f"convive-{root[0]}-incidentes-registros"
    check_disclosure(
        records={
            name: RecordTable(
                records=records,
                quasi_identifiers=record_report.quasi_identifiers,
                k=policy.k,
                sensitive=policy.sensitive,
                l=policy.l,
            )
        }
    )
    report = DisclosureReport(dataset=name, records={name: record_report})
    # A row number gives the DataStore a key; it says nothing about the incident.
    records.insert(0, "record", range(1, len(records) + 1))
    last_year, last_month = int(periods[1][:4]), int(periods[1][5:])
    description = (
        "Incidentes registrados por la policía, uno por fila, anonimizados: sin "
        "identificadores ni coordenadas; fecha generalizada al mes, hora a franjas, edad a "
        f"grupos; cada combinación de atributos la comparten al menos {policy.k} personas "
        f"(k-anonimato) con al menos {policy.l} categorías distintas (l-diversidad). Los "
        "delitos sexuales, la violencia intrafamiliar y los hechos con menores NO se publican "
        "a nivel de registro: sólo como agregados protegidos. Valores suprimidos: '*'."
    )
    if synthetic:
        description += " AVISO: incluye DATOS SINTÉTICOS de demostración."
    return DatasetPackage(
        name=name,
        title=f"Incidentes policiales (registros anonimizados) — {root[1]}",
        title_en=f"Police incidents (anonymised records) — {root[1]}",
        description=description,
        keywords=["convivencia", "seguridad", "policía", "microdatos", root[1]],
        theme="security",
        frequency="monthly",
        temporal_start=f"{periods[0]}-01",
        temporal_end=f"{periods[1]}-{calendar.monthrange(last_year, last_month)[1]:02d}",
        spatial_code=root[0],
        spatial_name=root[1],
        synthetic=synthetic,
        table=records,
        fields=[FieldDoc(c, str(records[c].dtype), _FIELD_TEXT.get(c, c)) for c in records],
        disclosure=report.to_dict(),
        disclosure_text=report.to_text(),
        sources=sources,
    )


_FIELD_TEXT = {
    "record": "Número de fila (clave de la tabla; no identifica el hecho)",
    "source": "Fuente (perfil de origen)",
    "territory_code": "Territorio (comuna/corregimiento); '*' si se suprime",
    "category": "Categoría canónica del incidente",
    "modality": "Modalidad / arma, cuando la fuente la informa",
    "victim_sex": "Sexo de la víctima (F, M, U); '*' si se suprime",
    "victim_age_group": "Grupo de edad de la víctima (generalizado); '*' si se suprime",
    "count": "Número de hechos que representa la fila",
}
