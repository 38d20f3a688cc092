"""The figures of a report equal the sum of the order lines they come from: on screen, in CSV and in XLSX
(read back), for every breakdown; confirmed quantities only once published; vials and doses as
Product.doses() counts them."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from fulfilment.reports.selectors import (
    ReportPeriod,
    ReportScope,
    ReportSpec,
    line_export_queryset,
    line_export_rows,
    report_headers,
    report_queryset,
    report_row,
    report_totals,
    requisition_queryset,
    requisition_rows,
    visible_session_ids,
)
from tests import factories
from tests.psc import login_agent
from vaccine_orders.orders.models import Order, Product

from .conftest import EVIL_NAME, PARIS, paris_at

pytestmark = pytest.mark.django_db


def _vials(product: Product, quantity: int | None) -> int | None:
    if quantity is None or product.doses_per_vial is None:
        return None
    return quantity * product.units_per_box if product.unit == Product.Unit.BOX else quantity


def _add(total: int | None, value: int | None) -> int | None:
    if value is None:
        return total
    return (total or 0) + value


def expected(seed, *, regions: set[str], key, at=None) -> dict:
    """Sums computed line by line in Python, from the seed's order lines (not from the code under test)."""
    at = at or timezone.now()
    sums: dict = defaultdict(
        lambda: {"orders": set(), "q": 0, "v": None, "d": None, "cq": None, "cv": None, "cd": None}
    )
    for line in seed.lines:
        line.refresh_from_db()
        order = line.order
        if order.status != Order.Status.REGISTERED or order.pharmacy.department.region.code not in regions:
            continue
        published = order.session.confirmation_published_at <= at
        confirmed = line.quantity_confirmed if published else None
        entry = sums[key(line)]
        entry["orders"].add(order.pk)
        entry["q"] += line.quantity_requested
        entry["v"] = _add(entry["v"], _vials(line.product, line.quantity_requested))
        entry["d"] = _add(entry["d"], line.product.doses(line.quantity_requested))
        entry["cq"] = _add(entry["cq"], confirmed)
        entry["cv"] = _add(entry["cv"], _vials(line.product, confirmed))
        entry["cd"] = _add(entry["cd"], line.product.doses(confirmed) if confirmed is not None else None)
    return {k: (len(v["orders"]), v["q"], v["v"], v["d"], v["cq"], v["cv"], v["cd"]) for k, v in sums.items()}


def _spec(seed, *, region: str | None, dimensions=("type", "product"), product=None) -> ReportSpec:
    scope = ReportScope(region=factories.region(region)) if region else ReportScope()
    period = ReportPeriod(sessions=(seed.published, seed.pending))
    return ReportSpec(scope=scope, period=period, dimensions=dimensions, product=product)


def _by_type_and_product(line):
    unit = {"vial": "flacon", "box": "boîte", "unit": "unité"}[line.product.unit]
    return (line.effector.type.label, line.product.name, unit)


@pytest.mark.parametrize("region", ["11", "84", None])
def test_the_report_by_type_and_product_is_the_sum_of_the_lines(seed, region):
    spec = _spec(seed, region=region)
    rows = {
        row.cells: (
            row.orders,
            row.ordered_quantity,
            row.ordered_vials,
            row.ordered_doses,
            row.confirmed_quantity,
            row.confirmed_vials,
            row.confirmed_doses,
        )
        for row in (report_row(spec, values) for values in report_queryset(spec))
    }
    regions = {region} if region else {"11", "84"}
    assert rows == expected(seed, regions=regions, key=_by_type_and_product)


DIMENSION_KEYS = {
    "type": lambda line: (line.effector.type.label,),
    "product": lambda line: (line.product.name, {"vial": "flacon", "box": "boîte"}[line.product.unit]),
    "department": lambda line: (line.order.pharmacy.department.code, line.order.pharmacy.department.name),
    "pharmacy": lambda line: (line.order.pharmacy.finess, line.order.pharmacy.name),
    "session": lambda line: (
        f"{timezone.localtime(line.order.session.opens_at, PARIS):%d/%m/%Y} – "
        f"{timezone.localtime(line.order.session.closes_at, PARIS):%d/%m/%Y}",
    ),
}


@pytest.mark.parametrize("dimension", list(DIMENSION_KEYS))
def test_every_breakdown_is_the_sum_of_the_lines_and_adds_up_to_the_total(seed, dimension):
    spec = _spec(seed, region="11", dimensions=(dimension,))
    rows = [report_row(spec, values) for values in report_queryset(spec)]
    got = {
        row.cells: (
            row.orders,
            row.ordered_quantity if dimension == "product" else None,
            row.ordered_vials,
            row.ordered_doses,
            row.confirmed_quantity if dimension == "product" else None,
            row.confirmed_vials,
            row.confirmed_doses,
        )
        for row in rows
    }
    want = {
        k: (v[0], v[1] if dimension == "product" else None, *v[2:4], v[4] if dimension == "product" else None, *v[5:])
        for k, v in expected(seed, regions={"11"}, key=DIMENSION_KEYS[dimension]).items()
    }
    assert got == want
    totals = report_totals(spec)
    assert totals.ordered_doses == sum(row.ordered_doses or 0 for row in rows)
    assert totals.confirmed_doses == sum(row.confirmed_doses or 0 for row in rows)
    assert totals.ordered_vials == sum(row.ordered_vials or 0 for row in rows)
    # Île-de-France: the published session's two orders, and the pending session's one (the cancelled one is out).
    assert totals.orders == 3


def test_quantities_in_the_products_unit_are_totalled_only_for_one_product(seed):
    assert report_totals(_spec(seed, region="11")).ordered_quantity is None
    one = report_totals(_spec(seed, region="11", product=seed.vaccine))
    assert one.ordered_quantity == 5 + 3 + 10 + 7 + 6 + 2
    assert one.confirmed_quantity == 4 + 3 + 8 + 7  # the pending session's 5 are not published


def test_vials_and_doses_follow_the_product(seed):
    spec = _spec(seed, region="11", dimensions=("product",))
    rows = {row.cells[0]: row for row in (report_row(spec, v) for v in report_queryset(spec))}
    assert rows["Comirnaty"].ordered_vials == 33 and rows["Comirnaty"].ordered_doses == 33 * 6
    assert rows["Spikevax (boîte)"].ordered_quantity == 5
    assert rows["Spikevax (boîte)"].ordered_vials == 50 and rows["Spikevax (boîte)"].ordered_doses == 500
    assert rows["Seringues 1 ml"].ordered_quantity == 4
    assert rows["Seringues 1 ml"].ordered_vials is None and rows["Seringues 1 ml"].ordered_doses is None


def test_confirmed_quantities_appear_only_once_the_session_is_published(seed):
    spec = _spec(seed, region="11", dimensions=("session",))
    before = {row.cells: row.confirmed_quantity for row in (report_row(spec, v) for v in report_queryset(spec))}
    assert None in before.values()  # the pending session: confirmed by logistics, not published
    assert seed.pending.pk not in visible_session_ids(at=timezone.now())
    with time_machine.travel(seed.pending.confirmation_published_at + timedelta(seconds=1)):
        spec = _spec(seed, region="11", dimensions=("session", "product"))
        after = [report_row(spec, v) for v in report_queryset(spec)]
        pending_label = f"{timezone.localtime(seed.pending.opens_at):%d/%m/%Y}"
        confirmed = {row.cells[1]: row.confirmed_quantity for row in after if row.cells[0].startswith(pending_label)}
    assert confirmed == {"Comirnaty": 5}  # 5 for the officine's own line; the midwife's line was not confirmed


def test_a_session_without_its_own_instant_is_published_at_18h_the_day_after_closing(seed):
    seed.pending.confirmation_published_at = None
    seed.pending.save()
    closing_day = timezone.localtime(seed.pending.closes_at).date()
    with time_machine.travel(paris_at(closing_day + timedelta(days=1), 17, 59)):
        assert seed.pending.pk not in visible_session_ids(at=timezone.now())
    with time_machine.travel(paris_at(closing_day + timedelta(days=1), 18, 0)):
        assert seed.pending.pk in visible_session_ids(at=timezone.now())


def test_a_period_by_dates_takes_orders_by_their_paris_day_of_validation(seed):
    late = seed.order(
        seed.paris,
        factories.OrderSessionFactory(
            opens_at=seed.pending.opens_at + timedelta(days=30), closes_at=seed.pending.opens_at + timedelta(days=31)
        ),
    )
    day = timezone.localtime(late.session.opens_at).date()
    late.validated_at = paris_at(day, 23, 30)  # 21:30 or 22:30 UTC: still this Paris day
    late.save()
    seed.line(late, factories.own_effector(seed.paris, "pharmacist"), seed.vaccine, 11)
    scope = ReportScope(region=factories.region("11"))

    def total(start, end):
        spec = ReportSpec(scope=scope, period=ReportPeriod(start=start, end=end), dimensions=("product",))
        return report_totals(spec).ordered_vials

    assert total(day, day) == 11
    assert total(day + timedelta(days=1), day + timedelta(days=1)) is None
    published_day = timezone.localtime(seed.published.opens_at).date()
    assert total(published_day, published_day) == 5 + 3 + 20 + 20 + 10 + 7 + 10


def test_cancelled_orders_never_count(seed):
    spec = _spec(seed, region="11", dimensions=("pharmacy",), product=seed.vaccine)
    rows = {row.cells[0]: row for row in (report_row(spec, v) for v in report_queryset(spec))}
    assert rows[seed.bobigny.finess].ordered_quantity == 7  # not 7 + 99


# --- the downloads, read back -----------------------------------------------------------------------------


def _read_csv(response) -> list[list[str]]:
    data = b"".join(response.streaming_content)
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def _read_xlsx(response, sheet: int = 0) -> list[list]:
    data = b"".join(response.streaming_content)
    workbook = load_workbook(io.BytesIO(data))
    return [list(row) for row in workbook.worksheets[sheet].iter_rows(values_only=True)]


def _number(cell) -> int | None:
    if cell in (None, ""):
        return None
    return int(cell)


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_the_downloaded_report_is_the_sum_of_the_lines(client_idf, seed, file_format):
    params = {"periode": "sessions", "sessions": [seed.published.pk, seed.pending.pk]}
    response = client_idf.get(reverse("reports:report_download", args=[file_format]), params)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    rows = _read_csv(response) if file_format == "csv" else _read_xlsx(response)
    spec = _spec(seed, region="11")
    assert rows[0] == report_headers(spec)
    body, total = rows[1:-1], rows[-1]
    got = {tuple(r[:3]): tuple(_number(c) for c in r[3:]) for r in body}
    assert got == expected(seed, regions={"11"}, key=_by_type_and_product)
    assert total[0] == "Total"
    want = expected(seed, regions={"11"}, key=lambda line: "all")["all"]
    assert _number(total[6]) == want[3] and _number(total[9]) == want[6]  # doses ordered, doses confirmed
    assert _number(total[5]) == want[2] and _number(total[8]) == want[5]  # vials


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_the_lines_download_has_one_row_per_line_with_its_figures(client_idf, seed, file_format):
    params = {"periode": "sessions", "sessions": [seed.published.pk, seed.pending.pk]}
    response = client_idf.get(reverse("reports:lines_download", args=[file_format]), params)
    assert response.status_code == 200
    rows = _read_csv(response) if file_format == "csv" else _read_xlsx(response)
    assert rows[0][0] == "Session" and len(rows[0]) == 16
    idf_lines = [line for line in seed.lines if line.order.pharmacy.department.region.code == "11"]
    assert len(rows) - 1 == len(idf_lines)
    assert sum(_number(r[10]) for r in rows[1:]) == sum(line.quantity_requested for line in idf_lines)
    assert sum(_number(r[12]) or 0 for r in rows[1:]) == sum(
        line.product.doses(line.quantity_requested) or 0 for line in idf_lines
    )
    published_confirmed = sum(
        line.quantity_confirmed or 0 for line in idf_lines if line.order.session_id == seed.published.pk
    )
    assert sum(_number(r[13]) or 0 for r in rows[1:]) == published_confirmed
    first_day = timezone.localtime(seed.published.opens_at).date()
    if file_format == "csv":
        assert rows[1][0] == f"{first_day:%d/%m/%Y}" and rows[1][2] == f"{first_day:%d/%m/%Y}"
    else:
        assert rows[1][0].date() == first_day  # a real date cell, shown as dd/mm/yyyy


def test_the_csv_is_french_utf8_with_bom_and_semicolons(client_idf, seed):
    response = client_idf.get(reverse("reports:report_download", args=["csv"]))
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="rapport-region-11-' in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    assert data.startswith(b"\xef\xbb\xbfType de professionnel;Produit;Unit\xc3\xa9;")
    assert b"\r\n" in data


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_a_formula_in_an_officine_name_comes_out_inert(client, seed, ars_ara, file_format):
    login_agent(client, ars_ara)
    params = {"periode": "sessions", "sessions": [seed.published.pk], "produit": seed.vaccine.code}
    urls = [
        reverse("reports:lines_download", args=[file_format]),
        reverse("reports:requisition_download", args=[file_format]),
        reverse("reports:report_download", args=[file_format]),
    ]
    for url in urls:
        response = client.get(url, {**params, "ventilation": ["pharmacy"]})
        assert response.status_code == 200, url
        if file_format == "csv":
            cells = [cell for row in _read_csv(response) for cell in row]
            assert "'" + EVIL_NAME in cells, url
            assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells), url
        else:
            workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
            cells = [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]
            evil = [cell for cell in cells if isinstance(cell.value, str) and EVIL_NAME in cell.value]
            assert evil, url
            for cell in evil:
                assert cell.data_type == "s" and cell.value == "'" + EVIL_NAME, url
            assert not any(cell.data_type == "f" for cell in cells), url


def test_every_formula_trigger_is_neutralised_in_both_formats(tmp_path):
    from fulfilment.reports.exports import Table, csv_stream, write_xlsx

    values = ["=1+1", "+33 1 23", "-2", "@SUM(A1)", "\tx", "\rx", "normal", "a=b"]
    table = Table(title="T", headers=["Nom"], rows=[(v,) for v in values])
    text = b"".join(csv_stream(table)).decode("utf-8-sig")
    read = [row[0] for row in csv.reader(io.StringIO(text, newline=""), delimiter=";")][1:]
    assert read == ["'" + v for v in values[:6]] + ["normal", "a=b"]
    path = tmp_path / "t.xlsx"
    write_xlsx(str(path), [Table(title="T", headers=["Nom"], rows=[(v,) for v in values])])
    sheet = load_workbook(path).worksheets[0]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    # (xlsxwriter stores a CR as the escape _x000D_, which openpyxl leaves as it is.)
    assert [c.value for c in cells[:5]] == ["'" + v for v in values[:5]]
    assert cells[5].value.startswith("'") and [c.value for c in cells[6:]] == ["normal", "a=b"]
    assert {c.data_type for c in cells} == {"s"}


def test_the_requisition_lists_officines_with_contacts_and_confirmed_quantities(seed):
    scope = ReportScope(region=factories.region("11"))
    period = ReportPeriod(sessions=(seed.published, seed.pending))
    rows = list(
        requisition_rows(requisition_queryset(scope=scope, period=period, product=seed.vaccine, at=timezone.now()))
    )
    by_finess = {row[1]: row for row in rows}
    assert set(by_finess) == {seed.paris.finess, seed.bobigny.finess}
    paris = by_finess[seed.paris.finess]
    assert paris[:8] == (
        "75",
        seed.paris.finess,
        "Pharmacie du Marché",
        "3 rue de la Paix",
        "75011",
        "Paris",
        seed.paris.phone,
        seed.paris.email,
    )
    assert paris[8:] == (5 + 3 + 10 + 6 + 2, 4 + 3 + 8, 15, 90)  # ordered, confirmed (published only), vials, doses
    assert by_finess[seed.bobigny.finess][8:] == (7, 7, 7, 42)


def test_the_lines_export_query_computes_everything_in_the_database(seed):
    """Every column comes out of the SQL (so that COPY of the same query is a fair floor for the bench)."""
    scope = ReportScope(region=factories.region("84"))
    queryset = line_export_queryset(scope=scope, period=ReportPeriod(sessions=(seed.published,)), at=timezone.now())
    rows = list(line_export_rows(queryset))
    assert [row[10:] for row in rows] == [(500, 500, 3000, 450, 450, 2700), (400, 400, 2400, 400, 400, 2400)]
