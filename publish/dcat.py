"""DCAT-AP / DCAT-AP-ES metadata for packages, as JSON-LD built deterministically.

The nodes follow DCAT-AP-ES 1.0.0 (datos.gob.es): the publisher is a DIR3 organisation IRI
described as a foaf:Agent, the first theme comes from the NTI-RISP sector taxonomy, licences,
languages, frequencies and file types come from the EU vocabularies, every free text carries a
language tag and Spanish is always present. `catalogue_turtle` gives the same graph as Turtle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from rdflib import Graph
from rdflib.compare import to_canonical_graph

from publish.package import THEMES, DatasetPackage

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "spdx": "http://spdx.org/rdf/terms#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "adms": "http://www.w3.org/ns/adms#",
    "dcatap": "http://data.europa.eu/r5r/",
}
EU_AUTHORITY = "http://publications.europa.eu/resource/authority/"
FREQUENCY = EU_AUTHORITY + "frequency/"
FREQUENCIES = {
    "monthly": "MONTHLY",
    "annual": "ANNUAL",
    "weekly": "WEEKLY",
    "quarterly": "QUARTERLY",
    "daily": "DAILY",
}
LANGUAGE = EU_AUTHORITY + "language/"
LANGUAGES = {"es": "SPA", "en": "ENG"}
ACCESS_PUBLIC = EU_AUTHORITY + "access-right/PUBLIC"
AVAILABILITY_STABLE = EU_AUTHORITY + "planned-availability/STABLE"
EU_THEME_TAXONOMY = EU_AUTHORITY + "data-theme"
FILE_TYPE = EU_AUTHORITY + "file-type/"
FILE_TYPES = {
    "text/csv": "CSV",
    "application/vnd.apache.parquet": "PARQUET",
    "application/json": "JSON",
    "application/geo+json": "GEOJSON",
    "text/plain": "TXT",
    "text/html": "HTML",
}
IANA_MEDIA_TYPE = "http://www.iana.org/assignments/media-types/"
# Licence pages people write in configurations -> the EU licence vocabulary DCAT-AP-ES expects.
EU_LICENCE = EU_AUTHORITY + "licence/"
LICENCES = {
    "https://creativecommons.org/licenses/by/4.0/": EU_LICENCE + "CC_BY_4_0",
    "https://creativecommons.org/licenses/by-sa/4.0/": EU_LICENCE + "CC_BY_SA_4_0",
    "https://creativecommons.org/publicdomain/zero/1.0/": EU_LICENCE + "CC0",
}
DIR3_ORGANISM = "http://datos.gob.es/recurso/sector-publico/org/Organismo/"
PUBLISHER_TYPE = "http://purl.org/adms/publishertype/"
NTI_SECTOR_TAXONOMY = "http://datos.gob.es/kos/sector-publico/sector"
SHA1 = "http://spdx.org/rdf/terms#checksumAlgorithm_sha1"
SHA256 = "http://spdx.org/rdf/terms#checksumAlgorithm_sha256"


@dataclass(frozen=True)
class Publisher:
    """Who publishes the catalogue.

    `dir3_code` is the publisher's code in the Spanish DIR3 directory (e.g. "L01280796"): with
    it the publisher is the IRI datos.gob.es expects; without it, `url` (not DCAT-AP-ES valid).
    `spatial_uri` is the coverage of the publisher's data in a vocabulary DCAT-AP-ES accepts
    (NTI-RISP territory, EU country/place/ATU, GeoNames); without it a local IRI is used.
    """

    name: str
    url: str
    email: str
    licence: str
    language: str
    base_uri: str
    dir3_code: str | None = None
    publisher_type: str = "LocalAuthority"
    spatial_uri: str | None = None


@dataclass(frozen=True)
class Distribution:
    """A file of a dataset as published (SHA-1 is what DCAT-AP-ES puts in spdx:checksum)."""

    file_name: str
    title: str
    media_type: str
    size: int
    sha256: str
    sha1: str | None = None


def publisher_iri(publisher: Publisher) -> str:
    """The publisher's IRI: its DIR3 organisation when known, else its web address."""
    return DIR3_ORGANISM + publisher.dir3_code if publisher.dir3_code else publisher.url


def licence_iri(licence: str) -> str:
    """The EU-vocabulary IRI of a licence given by its usual web page (else unchanged)."""
    return LICENCES.get(licence.rstrip("/") + "/", licence)


def language_iri(language: str) -> str:
    """The EU-vocabulary IRI of an ISO 639-1 language code (Spanish when unknown)."""
    return LANGUAGE + LANGUAGES.get(language, "SPA")


def frequency_iri(frequency: str) -> str:
    """The EU-vocabulary IRI of a package frequency ("monthly" -> .../MONTHLY)."""
    return FREQUENCY + FREQUENCIES.get(frequency, "IRREG")


def spatial_iri(package: DatasetPackage, publisher: Publisher) -> str:
    """The dataset's spatial coverage IRI (see Publisher.spatial_uri)."""
    return publisher.spatial_uri or f"{publisher.base_uri}/territorio/{package.spatial_code}"


def dataset_uri(package: DatasetPackage, publisher: Publisher) -> str:
    """The dataset's IRI in the catalogue (also its dct:identifier)."""
    return f"{publisher.base_uri}/dataset/{package.name}"


def _typed(value: str, kind: str) -> dict:
    return {"@value": value, "@type": f"xsd:{kind}"}


def _es(text: str) -> dict:
    return {"@value": text, "@language": "es"}


def dataset_node(
    package: DatasetPackage,
    files: list[Distribution],
    publisher: Publisher,
    *,
    issued: str,
    modified: str,
    download_base: str,
) -> dict:
    """The dcat:Dataset node of one package (with its distributions)."""
    uri = dataset_uri(package, publisher)
    sector, eu_theme = THEMES[package.theme]
    return {
        "@id": uri,
        "@type": "dcat:Dataset",
        "dct:identifier": uri,
        "dct:title": [_es(package.title), {"@value": package.title_en, "@language": "en"}],
        "dct:description": _es(package.description),
        "dcat:keyword": [_es(k) for k in package.keywords],
        "dcat:theme": [{"@id": sector}, {"@id": eu_theme}],
        "dct:publisher": {"@id": publisher_iri(publisher)},
        "dct:license": {"@id": licence_iri(publisher.licence)},
        "dct:accessRights": {"@id": ACCESS_PUBLIC},
        "dct:language": {"@id": language_iri(publisher.language)},
        "dct:accrualPeriodicity": {"@id": frequency_iri(package.frequency)},
        "dct:spatial": {"@id": spatial_iri(package, publisher)},
        "dct:temporal": {
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": _typed(package.temporal_start, "date"),
            "dcat:endDate": _typed(package.temporal_end, "date"),
        },
        "dct:issued": _typed(issued, "date"),
        "dct:modified": _typed(modified, "date"),
        "dcat:contactPoint": _contact_point(publisher),
        "dcat:distribution": [_distribution(uri, f, publisher, download_base) for f in files],
    }


def _contact_point(publisher: Publisher) -> dict:
    node = {
        "@type": "vcard:Organization",
        "vcard:fn": _es(publisher.name),
        "vcard:organization-name": _es(publisher.name),
        "vcard:hasEmail": {"@id": f"mailto:{publisher.email}"},
        "vcard:hasURL": {"@id": publisher.url},
    }
    if publisher.dir3_code:
        node["vcard:hasUID"] = {"@id": publisher_iri(publisher)}
    return node


def _distribution(
    dataset_uri: str, file: Distribution, publisher: Publisher, download_base: str
) -> dict:
    node = {
        "@id": f"{dataset_uri}/distribution/{file.file_name}",
        "@type": "dcat:Distribution",
        "dct:title": _es(file.title),
        # The SHA-256 is stated in words too: DCAT-AP-ES only admits SHA-1 in spdx:checksum.
        "dct:description": _es(
            f"{file.title}: {file.file_name}, {file.size} bytes, SHA-256 {file.sha256}."
        ),
        "dcat:accessURL": {"@id": f"{download_base}/{file.file_name}"},
        "dcat:downloadURL": {"@id": f"{download_base}/{file.file_name}"},
        "dcat:mediaType": {"@id": IANA_MEDIA_TYPE + file.media_type},
        "dcat:byteSize": _typed(str(file.size), "nonNegativeInteger"),
        "dct:license": {"@id": licence_iri(publisher.licence)},
        "dcatap:availability": {"@id": AVAILABILITY_STABLE},
    }
    if file.media_type in FILE_TYPES:
        node["dct:format"] = {"@id": FILE_TYPE + FILE_TYPES[file.media_type]}
    if file.sha1:
        node["spdx:checksum"] = {
            "@type": "spdx:Checksum",
            "spdx:algorithm": {"@id": SHA1},
            "spdx:checksumValue": _typed(file.sha1, "hexBinary"),
        }
    return node


def publisher_node(publisher: Publisher) -> dict:
    """The publisher as a foaf:Agent (DIR3 code as dct:identifier, ADMS publisher type)."""
    node = {
        "@id": publisher_iri(publisher),
        "@type": ["foaf:Agent", "foaf:Organization"],
        "foaf:name": _es(publisher.name),
        "dct:type": {"@id": PUBLISHER_TYPE + publisher.publisher_type},
    }
    if publisher.dir3_code:
        node["dct:identifier"] = publisher.dir3_code
    return node


def catalogue_document(
    datasets: list[dict],
    publisher: Publisher,
    *,
    title: str,
    modified: str,
    issued: str | None = None,
) -> dict:
    """The whole dcat:Catalog as a JSON-LD document.

    `issued` defaults to the earliest dct:issued of the datasets (else `modified`).
    """
    first_issued = min(
        (d["dct:issued"]["@value"] for d in datasets if "dct:issued" in d), default=modified
    )
    return {
        "@context": CONTEXT,
        "@graph": [
            {
                "@id": f"{publisher.base_uri}/catalogo",
                "@type": "dcat:Catalog",
                "dct:title": _es(title),
                "dct:description": _es(
                    "Datos abiertos de coordinación de seguridad y "
                    "convivencia publicados por Convive."
                ),
                "dct:publisher": {"@id": publisher_iri(publisher)},
                "dct:language": {"@id": language_iri(publisher.language)},
                "dct:license": {"@id": licence_iri(publisher.licence)},
                "dct:issued": _typed(issued or first_issued, "date"),
                "dct:modified": _typed(modified, "date"),
                "foaf:homepage": {"@id": publisher.base_uri},
                "dcat:themeTaxonomy": [{"@id": NTI_SECTOR_TAXONOMY}, {"@id": EU_THEME_TAXONOMY}],
                **(
                    {"dct:spatial": {"@id": publisher.spatial_uri}} if publisher.spatial_uri else {}
                ),
                "dcat:dataset": [{"@id": d["@id"]} for d in datasets],
            },
            publisher_node(publisher),
            *datasets,
        ],
    }


def catalogue_turtle(document: dict) -> bytes:
    """The JSON-LD catalogue as Turtle (UTF-8); the same document gives the same bytes.

    Blank nodes get content-derived labels first, so their order never depends on the run.
    """
    graph = Graph().parse(data=json.dumps(document), format="json-ld")
    canonical = Graph()
    for prefix, namespace in CONTEXT.items():
        canonical.bind(prefix, namespace)
    for triple in to_canonical_graph(graph):
        canonical.add(triple)
    return canonical.serialize(format="turtle", encoding="utf-8")
