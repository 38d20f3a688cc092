"""Opening a national extraction as a stream of raw lines: a plain file, or the .zip the ANS and data.gouv.fr
publish (the member is picked by name). Lines are bytes: each importer decides how to decode them."""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class SourceError(Exception):
    """The file itself cannot be read (not a line of it): the whole import stops with this message."""


@dataclass
class OpenedSource:
    stream: IO[bytes]
    size: int
    name: str


# The member to import from each archive: the RPPS zip also holds the diplomas and savoir-faire files.
MEMBER_HINTS = {"rpps": ("personne_activite",), "finess": ("etalab", "cs1100507", "cs1100502", ".csv")}


@contextlib.contextmanager
def open_source(
    *, path: str | Path | None = None, fileobj: IO[bytes] | None = None, kind: str
) -> Iterator[OpenedSource]:
    """Yield the extraction as a binary stream, whether it is `path` or an uploaded `fileobj`."""
    with contextlib.ExitStack() as stack:
        if fileobj is None:
            if path is None:
                raise SourceError("Aucun fichier à importer.")
            try:
                fileobj = stack.enter_context(open(path, "rb"))
            except OSError as exc:
                raise SourceError(f"Impossible d'ouvrir le fichier « {path} » : {exc.strerror}.") from exc
        name = Path(getattr(fileobj, "name", "") or str(path or "")).name
        if zipfile.is_zipfile(fileobj):
            fileobj.seek(0)
            archive = stack.enter_context(zipfile.ZipFile(fileobj))
            member = _pick_member(archive, kind)
            info = archive.getinfo(member)
            yield OpenedSource(stream=stack.enter_context(archive.open(member)), size=info.file_size, name=member)
            return
        fileobj.seek(0, 2)
        size = fileobj.tell()
        fileobj.seek(0)
        yield OpenedSource(stream=fileobj, size=size, name=name)


def _pick_member(archive: zipfile.ZipFile, kind: str) -> str:
    names = [n for n in archive.namelist() if not n.endswith("/")]
    for hint in MEMBER_HINTS.get(kind, ()):
        matching = [n for n in names if hint in n.lower()]
        if matching:
            return matching[0]
    if len(names) == 1:
        return names[0]
    raise SourceError(
        "L'archive ne contient pas le fichier attendu "
        + ("(« PS_LibreAcces_Personne_activite… »)." if kind == "rpps" else "(extraction FINESS « etalab… »).")
    )
