"""The files of the reports: CSV streamed as it is read from the database, XLSX written to a temporary file
in xlsxwriter's constant-memory mode then streamed. Memory stays flat whatever the number of rows.

Both neutralise spreadsheet formulas (vaccine_orders.csvutils.neutralise: a cell starting with =, +, -, @,
tab or CR gets a leading quote), and in XLSX every text is written as a string cell, never parsed as a
formula, a number or a link. CSV is what French spreadsheets expect: UTF-8 with BOM, semicolons, decimal
comma, dates as dd/mm/yyyy.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO

from django.http import FileResponse, StreamingHttpResponse

from vaccine_orders.csvutils import csv_chunks, neutralise

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RESPONSE_BLOCK_SIZE = 64 * 1024
EXCEL_EPOCH = date(1899, 12, 30)


@dataclass
class Table:
    """A sheet: its headers and its rows (an iterator, read once). `date_columns` hold `date` values."""

    title: str
    headers: Sequence[str]
    rows: Iterable[Sequence[object]]
    date_columns: tuple[int, ...] = ()
    widths: dict[int, int] = field(default_factory=dict)


def _french_dates(rows: Iterable[Sequence[object]], columns: tuple[int, ...]) -> Iterator[Sequence[object]]:
    """dd/mm/yyyy in the date columns. A report has few distinct days: each is formatted once."""
    if not columns:
        yield from rows
        return
    formatted: dict[date, str] = {}
    for row in rows:
        cells = list(row)
        for index in columns:
            value = cells[index]
            if isinstance(value, date):
                text = formatted.get(value)
                if text is None:
                    text = formatted[value] = value.strftime("%d/%m/%Y")
                cells[index] = text
        yield cells


def csv_stream(table: Table) -> Iterator[bytes]:
    return csv_chunks(table.headers, _french_dates(table.rows, table.date_columns))


def _no_store(response):
    response["Cache-Control"] = "private, no-store"
    return response


def csv_response(table: Table, *, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_stream(table), content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _no_store(response)


# Excel stops at 1,048,576 rows per sheet: past that, the rows go on to a new sheet with the same headers.
XLSX_MAX_DATA_ROWS = 1_048_575


def write_xlsx(output: IO[bytes] | str, tables: Sequence[Table], *, max_rows: int = XLSX_MAX_DATA_ROWS) -> int:
    """Write the tables as sheets of one workbook; returns the number of data rows written."""
    import xlsxwriter  # imported here: it costs the web and worker processes memory, and few requests need it

    workbook = xlsxwriter.Workbook(
        output,
        {
            "constant_memory": True,
            # Texts stay texts: never a formula, a link or a number because of how they look.
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    header_format = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    date_format = workbook.add_format({"num_format": "dd/mm/yyyy"})
    written = 0
    serials: dict[date, float] = {}
    for table in tables:
        dates = set(table.date_columns)
        part = 0
        sheet = None
        row_index = 0
        for row in table.rows:
            if sheet is None or row_index == max_rows:
                if sheet is not None:
                    _close_sheet(sheet, table, row_index)
                part += 1
                sheet = _open_sheet(workbook, table, part, header_format)
                # The undecorated cell writers: the public ones only add an A1-notation argument parser,
                # a quarter of the time per row in a micro-benchmark of 14 columns. XlsxWriter is pinned, and
                # the read-back tests fail if these ever change meaning; without them, the public writers
                # do the same job.
                write_string = getattr(sheet, "_write_string", sheet.write_string)
                write_number = getattr(sheet, "_write_number", sheet.write_number)
                row_index = 0
            row_index += 1
            for column, value in enumerate(row):
                if value is None:
                    continue
                if type(value) is str:
                    if value:
                        write_string(row_index, column, neutralise(value))
                elif column in dates and isinstance(value, date):
                    # Excel's serial number of the day, computed once per distinct day.
                    serial = serials.get(value)
                    if serial is None:
                        serial = serials[value] = _excel_serial(value)
                    write_number(row_index, column, serial, date_format)
                else:
                    write_number(row_index, column, value)
            written += 1
        if sheet is None:  # no rows: the headers alone
            sheet = _open_sheet(workbook, table, 1, header_format)
        _close_sheet(sheet, table, row_index)
    workbook.close()
    return written


def _open_sheet(workbook, table: Table, part: int, header_format):
    title = table.title[:31] if part == 1 else f"{table.title[:25]} ({part})"
    sheet = workbook.add_worksheet(title)
    for index, header in enumerate(table.headers):
        sheet.set_column(index, index, table.widths.get(index, max(12, min(len(header) + 2, 40))))
    sheet.write_row(0, 0, [neutralise(h) for h in table.headers], header_format)
    sheet.freeze_panes(1, 0)
    return sheet


def _close_sheet(sheet, table: Table, last_row: int) -> None:
    if table.headers:
        sheet.autofilter(0, 0, max(last_row, 1), len(table.headers) - 1)


def _excel_serial(value: date) -> float:
    """Days since Excel's epoch (1899-12-30), what a date cell holds."""
    day = value.date() if isinstance(value, datetime) else value
    return float((day - EXCEL_EPOCH).days)


def xlsx_temporary_file(tables: Sequence[Table]) -> IO[bytes]:
    """The workbook in an anonymous temporary file (gone when closed), rewound for reading."""
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - closed by the response that streams it
    try:
        write_xlsx(handle, tables)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return handle


def xlsx_response(tables: Sequence[Table], *, filename: str) -> FileResponse:
    response = FileResponse(
        xlsx_temporary_file(tables), as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE
    )
    response.block_size = RESPONSE_BLOCK_SIZE
    return _no_store(response)


def csv_temporary_file(table: Table) -> IO[bytes]:
    handle = tempfile.TemporaryFile(suffix=".csv")  # noqa: SIM115 - the caller closes it
    for chunk in csv_stream(table):
        handle.write(chunk)
    handle.seek(0)
    return handle
