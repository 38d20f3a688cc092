"""The file writers on their own: XLSX past Excel's row limit, empty tables, CSV chunks; the charts' scale."""

from __future__ import annotations

import csv
import io
from datetime import date

from openpyxl import load_workbook

from fulfilment.reports.charts import fr_int, nice_ceiling, sessions_chart, types_chart
from fulfilment.reports.exports import Table, csv_stream, write_xlsx
from fulfilment.reports.selectors import SeriesPoint
from vaccine_orders.csvutils import csv_chunks


def test_rows_past_the_sheet_limit_go_on_to_a_new_sheet_with_the_headers(tmp_path):
    path = tmp_path / "lignes.xlsx"
    rows = ((f"Officine {i}", i, date(2022, 3, 7)) for i in range(7))
    table = Table(title="Lignes de commande", headers=["Officine", "Quantité", "Jour"], rows=rows, date_columns=(2,))
    assert write_xlsx(str(path), [table], max_rows=3) == 7
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["Lignes de commande", "Lignes de commande (2)", "Lignes de commande (3)"]
    sheets = [[list(r) for r in sheet.iter_rows(values_only=True)] for sheet in workbook.worksheets]
    assert [len(s) for s in sheets] == [4, 4, 2]
    assert all(s[0] == ["Officine", "Quantité", "Jour"] for s in sheets)
    assert [row[1] for s in sheets for row in s[1:]] == list(range(7))
    assert sheets[0][1][2].date() == date(2022, 3, 7)


def test_an_empty_table_still_has_its_headers(tmp_path):
    path = tmp_path / "vide.xlsx"
    write_xlsx(str(path), [Table(title="Rapport", headers=["A", "B"], rows=iter(()))])
    assert [list(r) for r in load_workbook(path).worksheets[0].iter_rows(values_only=True)] == [["A", "B"]]
    text = b"".join(csv_stream(Table(title="Rapport", headers=["A", "B"], rows=iter(())))).decode("utf-8")
    assert text == "\ufeffA;B\r\n"


def test_csv_chunks_group_lines_without_cutting_them():
    rows = [(f"ligne {i}", i) for i in range(1000)]
    chunks = list(csv_chunks(["Nom", "N"], rows, chunk_bytes=1024))
    assert len(chunks) > 5 and all(chunk.endswith(b"\r\n") for chunk in chunks)
    read = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8-sig")), delimiter=";"))
    assert read[0] == ["Nom", "N"] and len(read) == 1001 and read[-1] == ["ligne 999", "999"]


def test_dates_are_french_and_decimals_have_a_comma_in_csv():
    from decimal import Decimal

    table = Table(title="T", headers=["Jour", "Taux"], rows=[(date(2022, 3, 7), Decimal("0.5"))], date_columns=(0,))
    assert b"".join(csv_stream(table)).decode("utf-8-sig").splitlines()[1] == "07/03/2022;0,5"


def test_the_scale_ends_on_a_round_number():
    assert [nice_ceiling(v) for v in (0, 1, 7, 12, 23, 26, 480, 650, 1001)] == [1, 1, 10, 20, 25, 50, 500, 1000, 2000]
    assert fr_int(1234567) == "1\u202f234\u202f567" and fr_int(None) == "—"


def test_bars_are_proportional_and_unpublished_confirmations_are_marked():
    points = [
        SeriesPoint(
            label="07/03/2022", detail="07/03 – 08/03", orders=2, ordered_doses=400, confirmed_doses=200, published=True
        ),
        SeriesPoint(
            label="14/03/2022",
            detail="14/03 – 15/03",
            orders=1,
            ordered_doses=100,
            confirmed_doses=None,
            published=False,
        ),
    ]
    chart = sessions_chart(points)
    ordered, confirmed, later, pending = chart.bars
    assert ordered.height == 2 * confirmed.height == 4 * later.height  # axis top: 500
    assert not ordered.hatched and confirmed.hatched and pending.hatched
    assert pending.height == 0 and pending.text == "—" and "non publié" in pending.title
    assert chart.labels[0].lines == ("07/03/2022", "2 cdes")
    horizontal = types_chart(points)
    assert horizontal.horizontal and horizontal.bars[0].width == 2 * horizontal.bars[1].width


def test_the_fast_csv_path_writes_what_neutralise_and_french_number_write():
    from decimal import Decimal

    from django.utils.safestring import mark_safe

    from vaccine_orders.csvutils import csv_rows, french_number, neutralise

    class Label(str):
        pass

    cells = [
        "=1",
        "",
        "x",
        "-",
        None,
        0,
        -3,
        2.5,
        Decimal("1.25"),
        True,
        mark_safe("=SUM(A1)"),
        Label("@x"),
        date(2022, 3, 7),
    ]
    fast = list(csv_rows(["h"] * len(cells), [cells]))[1]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerow([french_number(neutralise(c)) for c in cells])
    assert fast == buffer.getvalue()
    assert fast.startswith("'=1;;x;'-;;0;-3;2,5;1,25;True;'=SUM(A1);'@x;2022-03-07")
