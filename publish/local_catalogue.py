"""The local catalogue target: packages as files, a DCAT catalogue and an index page.

Written atomically: a release is built in a fresh folder, then the catalogue path (a
symbolic link) is switched to it in one rename. A crash leaves the previous catalogue whole.
The same packages give byte-identical files (no clock time in any of them).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from publish.dcat import (
    Distribution,
    Publisher,
    catalogue_document,
    catalogue_turtle,
    dataset_node,
)
from publish.package import DatasetPackage
from publish.package_files import RenderedFile, canonical_json, render_files

KEEP_RELEASES = 2


def write_catalogue(
    packages: list[DatasetPackage],
    target: Path,
    publisher: Publisher,
    *,
    title: str,
    attachments: list[RenderedFile] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write every package and the catalogue under `target` atomically; return its index.

    `attachments` (e.g. the coordination report) are written at the top and linked from the
    index page. `progress(done, total)` follows each package written.
    """
    target = Path(target)
    releases = target.parent / f".{target.name}-releases"
    releases.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="build-", dir=releases))
    build.chmod(0o755)  # mkdtemp makes it private; a catalogue is for everyone to read
    try:
        datasets, rows = [], []
        for package in sorted(packages, key=lambda p: p.name):
            files = _write_package(package, build / package.name)
            modified = package.temporal_end
            datasets.append(
                dataset_node(
                    package,
                    files,
                    publisher,
                    issued=modified,
                    modified=modified,
                    download_base=f"{publisher.base_uri}/{package.name}",
                )
            )
            rows.append({"package": package, "files": files})
            if progress is not None:
                progress(len(rows), len(packages))
        modified = max((p.temporal_end for p in packages), default="1970-01-01")
        document = catalogue_document(datasets, publisher, title=title, modified=modified)
        _write_bytes(build / "catalog.jsonld", canonical_json(document))
        _write_bytes(build / "catalog.ttl", catalogue_turtle(document))
        for attachment in attachments:
            _write_bytes(build / attachment.file_name, attachment.content)
        index = _index(rows, title, publisher, modified, attachments)
        _write_bytes(build / "index.html", index.encode())
        final = releases / _digest(build)
        if final.exists():
            shutil.rmtree(build)
        else:
            build.rename(final)
        _switch_link(target, final)
        _prune(releases, keep=final)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return target / "index.html"


def _write_package(package: DatasetPackage, folder: Path) -> list[Distribution]:
    folder.mkdir(parents=True)
    files = []
    for rendered in render_files(package):
        _write_bytes(folder / rendered.file_name, rendered.content)
        files.append(rendered.distribution)
    return files


def _write_bytes(path: Path, content: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _index(
    rows: list[dict],
    title: str,
    publisher: Publisher,
    modified: str,
    attachments: list[RenderedFile],
) -> str:
    environment = Environment(
        loader=PackageLoader("publish", "templates"), autoescape=select_autoescape()
    )
    return environment.get_template("index.html.j2").render(
        rows=rows, title=title, publisher=publisher, modified=modified, attachments=attachments
    )


def _digest(folder: Path) -> str:
    """A content digest of a built release (so identical releases share one folder)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _switch_link(target: Path, release: Path) -> None:
    if target.exists() and not target.is_symlink():
        raise FileExistsError(f"{target} exists and is not a catalogue link; move it away")
    temporary = target.parent / f".{target.name}.link-{os.getpid()}"
    if temporary.is_symlink():
        temporary.unlink()
    temporary.symlink_to(os.path.relpath(release, target.parent))
    os.replace(temporary, target)  # rename is atomic: readers see the old or the new release


def _prune(releases: Path, keep: Path) -> None:
    old = sorted(
        (p for p in releases.iterdir() if p != keep and not p.name.startswith("build-")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for path in old[KEEP_RELEASES - 1 :]:
        shutil.rmtree(path, ignore_errors=True)
