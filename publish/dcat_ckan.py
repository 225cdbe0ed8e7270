"""A package's DCAT-AP / DCAT-AP-ES metadata as CKAN dataset and resource fields.

ckanext-dcat (2.4.x, profile euro_dcat_ap_3) builds each dataset's RDF (`/dataset/{name}.ttl`)
from CKAN's core fields and from extras with agreed keys: `theme`, `language`, `frequency`,
`temporal_start`/`temporal_end`, `access_rights`, `publisher_*`, `contact_*`, and from the
resource fields `license`, `availability`, `hash`/`hash_algorithm`, `size`, `format`,
`mimetype`. This module fills exactly those, with the same IRIs `publish.dcat` uses for the
local catalogue, so both catalogues describe a package alike. docs/publishing.md has the table.

What CKAN's core schema cannot carry is listed there too: language tags on free text (CKAN
stores one plain string per field), so a portal that must pass DCAT-AP-ES needs a multilingual
schema or profile on its side; `title_en` is kept as an extra for it.
"""

from __future__ import annotations

import json

from rdflib import Graph, Literal, Node, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, Namespace

from publish.dcat import (
    ACCESS_PUBLIC,
    AVAILABILITY_STABLE,
    FILE_TYPE,
    FILE_TYPES,
    IANA_MEDIA_TYPE,
    SHA1,
    THEMES,
    Distribution,
    Publisher,
    frequency_iri,
    language_iri,
    licence_iri,
    publisher_iri,
)
from publish.package import DatasetPackage

PUBLISHER_TYPE = "http://purl.org/adms/publishertype/"
# CKAN's own licence register ids, so the portal's web pages name the licence.
CKAN_LICENCE_IDS = {
    "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0": "cc-by",
    "http://publications.europa.eu/resource/authority/licence/CC_BY_SA_4_0": "cc-by-sa",
    "http://publications.europa.eu/resource/authority/licence/CC0": "cc-zero",
}
CKAN_FORMATS = {
    "text/csv": "CSV",
    "application/vnd.apache.parquet": "Parquet",
    "application/json": "JSON",
    "application/geo+json": "GeoJSON",
    "text/plain": "TXT",
    "text/html": "HTML",
}


def dataset_extras(package: DatasetPackage, publisher: Publisher) -> dict[str, str]:
    """The dataset extras ckanext-dcat turns into DCAT-AP properties (key -> string value)."""
    sector, eu_theme = THEMES[package.theme]
    extras = {
        "theme": json.dumps([sector, eu_theme]),
        "language": json.dumps([language_iri(publisher.language)]),
        "frequency": frequency_iri(package.frequency),
        "temporal_start": package.temporal_start,
        "temporal_end": package.temporal_end,
        "access_rights": ACCESS_PUBLIC,
        "publisher_uri": publisher_iri(publisher),
        "publisher_name": publisher.name,
        "publisher_url": publisher.url,
        "publisher_email": publisher.email,
        "publisher_type": PUBLISHER_TYPE + publisher.publisher_type,
        "contact_name": publisher.name,
        "contact_email": publisher.email,
        "title_en": package.title_en,
        "spatial_code": package.spatial_code,
        "spatial_name": package.spatial_name,
        "synthetic": "true" if package.synthetic else "false",
    }
    if publisher.dir3_code:
        extras["publisher_identifier"] = publisher.dir3_code
    if publisher.spatial_uri:
        # ckanext-dcat only writes dct:spatial with a geometry, bbox or centroid; kept for it.
        extras["spatial_uri"] = publisher.spatial_uri
    if package.sources:
        extras["provenance"] = "Fuentes: " + "; ".join(package.sources)
    return extras


def dataset_fields(
    package: DatasetPackage, publisher: Publisher, *, organization: str, version: str
) -> dict:
    """The CKAN dataset fields this publisher manages (no resources), ready for the API.

    `version` is the release whose data the dataset holds (dcat:version).
    """
    licence = licence_iri(publisher.licence)
    return {
        "name": package.name,
        "title": package.title,
        "notes": package.description,
        "owner_org": organization,
        "license_id": CKAN_LICENCE_IDS.get(licence, licence),
        "version": version,
        "maintainer": publisher.name,
        "maintainer_email": publisher.email,
        "tags": [{"name": keyword} for keyword in sorted(set(package.keywords))],
        "extras": [
            {"key": key, "value": value}
            for key, value in sorted(dataset_extras(package, publisher).items())
        ],
    }


def resource_fields(
    file: Distribution, publisher: Publisher, *, name: str, description: str
) -> dict:
    """The CKAN resource fields of one published file (the upload itself goes separately).

    `hash` is the SHA-1 DCAT-AP-ES requires in spdx:checksum; `sha256` is the stronger digest
    the publisher compares to decide whether a file changed.
    """
    return {
        "name": name,
        "description": description,
        "format": CKAN_FORMATS.get(file.media_type, file.media_type),
        "mimetype": file.media_type,
        "size": file.size,
        "sha256": file.sha256,
        "hash": file.sha1 or "",
        "hash_algorithm": SHA1 if file.sha1 else "",
        "license": licence_iri(publisher.licence),
        "availability": AVAILABILITY_STABLE,
        "language": json.dumps([language_iri(publisher.language)]),
    }


VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
FREE_TEXT = (DCTERMS.title, DCTERMS.description, DCAT.keyword, FOAF.name, VCARD.fn)


def complete_portal_graph(graph: Graph, language: str = "es") -> Graph:
    """What a DCAT-AP-ES profile on the portal must add to stock ckanext-dcat output.

    CKAN's core schema stores free text as plain strings and resources' format and media type
    as short labels ("CSV", "text/csv"), so ckanext-dcat writes untagged literals where
    DCAT-AP-ES wants language-tagged text and EU file-type / IANA IRIs. This returns a copy of
    a portal's per-dataset graph with exactly those two things completed, nothing else: a
    portal-side profile (or a harvester) does the same. The tests use it to show that every
    other DCAT-AP-ES property already comes out right from the fields `dataset_fields` and
    `resource_fields` write.
    """
    out = Graph()
    for prefix, namespace in graph.namespaces():
        out.bind(prefix, namespace)
    for subject, predicate, value in graph:
        out.add((subject, predicate, _completed(predicate, value, language)))
    return out


def _completed(predicate: URIRef, value: Node, language: str) -> Node:
    if not isinstance(value, Literal) or value.language or value.datatype:
        return value
    if predicate in FREE_TEXT:
        return Literal(str(value), lang=language)
    if predicate == DCAT.mediaType:
        return URIRef(IANA_MEDIA_TYPE + str(value))
    if predicate == DCTERMS["format"]:
        media_type = {label: media for media, label in CKAN_FORMATS.items()}.get(str(value))
        if media_type in FILE_TYPES:
            return URIRef(FILE_TYPE + FILE_TYPES[media_type])
    return value
