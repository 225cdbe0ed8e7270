"""Write the JSON case files next to this script (run once; the outputs are committed).

The records are the first municipalities of the real DIVIPOLA extract (datos.gov.co
gdxc-w37w, see shared/data/real/SOURCES.md) plus San Andrés, reshaped the way JSON APIs
send them: coordinates as JSON numbers in a nested ``geo`` object, a made-up ``etiquetas``
list, and San Andrés without ``geo`` (Socrata leaves null fields out).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).parent
REAL_DATA = HERE.parents[3] / "shared" / "data" / "real"  # shared/ beside the repo
DIVIPOLA = REAL_DATA / "co-municipal-delitos-poblacion-2018-2024" / "divipola_gdxc-w37w.csv"


def records() -> list[dict[str, object]]:
    """The sample records, in file order."""
    with DIVIPOLA.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    sample = rows[:6] + [r for r in rows if r["cod_mpio"] == "88001"]
    out: list[dict[str, object]] = []
    for row in sample:
        record: dict[str, object] = {
            k: row[k] for k in ("cod_dpto", "dpto", "cod_mpio", "nom_mpio", "tipo_municipio")
        }
        if row["cod_mpio"] != "88001":
            lon, lat = float(row["longitud"]), float(row["latitud"])
            assert (repr(lon), repr(lat)) == (row["longitud"], row["latitud"])  # exact text
            record["geo"] = {"longitud": lon, "latitud": lat}
        if row["cod_mpio"] == "05001":
            record["etiquetas"] = ["capital", "área metropolitana", 1]
        out.append(record)
    return out


def write_cases() -> None:
    sample = records()
    (HERE / "divipola_muestra.json").write_text(
        json.dumps(sample, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    nested = {
        "meta": {"fuente": "gdxc-w37w", "columnas": [["a", 1], {"b": "]"}]},
        "data": {"count": len(sample), "items": sample},
    }
    (HERE / "divipola_muestra_anidado.json").write_text(
        json.dumps(nested, indent=1, ensure_ascii=False), encoding="utf-8-sig"
    )
    lines = [json.dumps(r, ensure_ascii=False) for r in sample]
    lines.insert(3, "")  # a blank line: skipped, but counted for _row
    (HERE / "divipola_muestra.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # Broken files: each comment says on which line the error is.
    (HERE / "registro_mal_formado.json").write_text(  # line 3: a key without quotes
        '[\n  {"cod_mpio": "05001"},\n  {cod_mpio: "05002"}\n]\n', encoding="utf-8"
    )
    (HERE / "registro_no_objeto.json").write_text(  # line 4: a number, not an object
        '[\n  {"cod_mpio": "05001"},\n\n  5001\n]\n', encoding="utf-8"
    )
    (HERE / "linea_mal_formada.ndjson").write_text(  # line 3: unterminated string
        '{"cod_mpio": "05001"}\n{"cod_mpio": "05002"}\n{"cod_mpio": "05004}\n', encoding="utf-8"
    )
    (HERE / "utf8_invalido.ndjson").write_bytes(  # line 2: "MEDELLÍN" in cp1252
        b'{"nom_mpio": "ABEJORRAL"}\n{"nom_mpio": "MEDELL\xcdN"}\n'
    )
    (HERE / "contenido_tras_array.json").write_text(  # line 2: a second value
        '[{"cod_mpio": "05001"}]\n{"cod_mpio": "05002"}\n', encoding="utf-8"
    )
    (HERE / "colision_columnas.json").write_text(  # line 2: "geo.lat" twice once flattened
        '[\n {"geo": {"lat": 6.2}, "geo.lat": "6.2"}\n]\n', encoding="utf-8"
    )


if __name__ == "__main__":
    write_cases()
