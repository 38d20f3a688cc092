"""CSV for spreadsheets opened in France: UTF-8 with BOM, semicolons, decimal comma, and cells that a
spreadsheet would run as formulas made inert (OWASP "CSV injection")."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal

BOM = "\ufeff"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER_SET = frozenset(FORMULA_TRIGGERS)


def neutralise(value: object) -> object:
    """A leading quote keeps text starting like a formula as text; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def french_number(value: object) -> object:
    if isinstance(value, float | Decimal):
        return str(value).replace(".", ",")
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_rows(header: Iterable[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """Yield the CSV text line by line (for StreamingHttpResponse), BOM first."""
    writer = csv.writer(_Echo(), delimiter=";", lineterminator="\r\n")
    yield BOM + writer.writerow([neutralise(h) for h in header])
    triggers = _TRIGGER_SET
    for row in rows:
        # french_number(neutralise(cell)), inlined for the common plain str, int and None cells: a million-line
        # export runs this for every cell.
        yield writer.writerow(
            [
                ("'" + cell if cell[:1] in triggers else cell)
                if cell.__class__ is str
                else (cell if cell is None or cell.__class__ is int else french_number(neutralise(cell)))
                for cell in row
            ]
        )


def csv_chunks(
    header: Iterable[str], rows: Iterable[Iterable[object]], *, chunk_bytes: int = 64 * 1024
) -> Iterator[bytes]:
    """`csv_rows` encoded in UTF-8 and grouped into chunks of about `chunk_bytes`: a streamed download of a
    million lines then costs a few thousand socket writes instead of a million."""
    buffer: list[str] = []
    size = 0
    for line in csv_rows(header, rows):
        buffer.append(line)
        size += len(line)
        if size >= chunk_bytes:
            yield "".join(buffer).encode("utf-8")
            buffer.clear()
            size = 0
    if buffer:
        yield "".join(buffer).encode("utf-8")
