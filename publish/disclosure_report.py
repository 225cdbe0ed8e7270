"""The disclosure report every published dataset carries.

It gathers what disclosure control did to each aggregate table (cells suppressed, primary and
secondary, rounding) and to each record-level table (k and l reached, rows and values
suppressed or dropped). It holds counts only, never a suppressed value, and serialises
deterministically (sorted keys, no timestamps) so that re-publishing unchanged data gives a
byte-identical report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from publish.record_level import RecordLevelReport
from publish.small_cells import SmallCellReport


@dataclass(frozen=True)
class DisclosureReport:
    """Disclosure control applied to one dataset, table by table."""

    dataset: str
    tables: Mapping[str, SmallCellReport] = field(default_factory=dict)
    records: Mapping[str, RecordLevelReport] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Plain data, ready for JSON."""
        return {
            "dataset": self.dataset,
            "aggregate_tables": {
                name: _table_dict(report) for name, report in sorted(self.tables.items())
            },
            "record_level_tables": {
                name: _records_dict(report) for name, report in sorted(self.records.items())
            },
        }

    def to_json(self) -> str:
        """Deterministic JSON: sorted keys, fixed indentation, no timestamps."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    def to_text(self) -> str:
        """A short bilingual (Spanish / English) summary for people."""
        lines = [f"Control de divulgación / Disclosure control: {self.dataset}"]
        for name, table in sorted(self.tables.items()):
            rounding = f", redondeo a {table.rounding_base}" if table.rounding_base else ""
            lines += [
                f"- Tabla / table {name}: {table.cells_total} celdas / cells",
                f"  umbral / threshold {table.threshold}, protección / protection "
                f"{table.protection:g}{rounding}",
                f"  suprimidas / suppressed: {table.cells_suppressed} "
                f"(primarias / primary {table.cells_primary}, secundarias / secondary "
                f"{table.cells_secondary}); pérdida / loss {table.information_loss:.1%}",
                "  auditoría LP superada / LP audit passed: "
                + ("sí / yes" if table.audit_passed else "no"),
            ]
        for name, report in sorted(self.records.items()):
            anonymity = report.anonymity
            lines += [
                f"- Registros / records {name}: {report.rows_in} de entrada / in, "
                f"{report.rows_removed_sensitive} sensibles excluidos / sensitive removed, "
                f"{anonymity.rows_out} publicados / published",
                f"  k requerido / required {anonymity.k_required}, alcanzado / achieved "
                f"{_shown(anonymity.k_achieved)}; l {_shown(anonymity.l_required)} / "
                f"{_shown(anonymity.l_achieved)}",
                f"  filas con supresión / rows with suppression {anonymity.rows_with_suppression}, "
                f"eliminadas / dropped {anonymity.rows_dropped}; pérdida / loss "
                f"{anonymity.information_loss:.1%}",
            ]
        return "\n".join(lines) + "\n"


def _shown(value: int | None) -> str:
    return "-" if value is None else str(value)


def _table_dict(report: SmallCellReport) -> dict[str, object]:
    return {
        "threshold": report.threshold,
        "protection": report.protection,
        "rounding_base": report.rounding_base,
        "cells_total": report.cells_total,
        "cells_primary": report.cells_primary,
        "cells_secondary": report.cells_secondary,
        "cells_suppressed": report.cells_suppressed,
        "information_loss": round(report.information_loss, 6),
        "audit_passed": report.audit_passed,
    }


def _records_dict(report: RecordLevelReport) -> dict[str, object]:
    anonymity = report.anonymity
    return {
        "rows_in": report.rows_in,
        "rows_removed_sensitive": report.rows_removed_sensitive,
        "rows_published": report.rows_published,
        "quasi_identifiers": list(report.quasi_identifiers),
        "k_required": anonymity.k_required,
        "k_achieved": anonymity.k_achieved,
        "l_required": anonymity.l_required,
        "l_achieved": anonymity.l_achieved,
        "rows_with_suppression": anonymity.rows_with_suppression,
        "rows_dropped": anonymity.rows_dropped,
        "values_suppressed": dict(sorted(anonymity.values_suppressed.items())),
        "information_loss": round(anonymity.information_loss, 6),
    }
