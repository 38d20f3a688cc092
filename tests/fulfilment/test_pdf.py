"""The PDF summary: rendered by WeasyPrint, opened back with pypdf (text, pages, totals, tagging, fonts),
rendered again only when the confirmation changes, and unable to fetch anything but static files."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from pypdf import PdfReader

from fulfilment.models import OrderSummary
from fulfilment.pdf import StaticFilesURLFetcher, render_empty_page, render_summary_pdf
from fulfilment.selectors import order_follow_up
from fulfilment.services import line_confirm, lines_confirm_as_ordered, summary_render
from tests import factories
from tests.fulfilment.conftest import add_order, line_of, make_session, moderna, syringes
from vaccine_orders.orders.models import OrderLine

pytestmark = pytest.mark.django_db


def _reader(pdf: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf))


def _text(reader: PdfReader) -> str:
    """All pages' text, whitespace collapsed (table cells wrap where the column is narrow)."""
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def _fonts(reader: PdfReader) -> set[str]:
    names = set()
    for page in reader.pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for ref in fonts.values():
            names.add(str(ref.get_object()["/BaseFont"]))
    return names


def test_summary_shows_pharmacy_session_delivery_lines_totals_and_storage(published_cast, staff_actor):
    lines_confirm_as_ordered(session=published_cast.session, actor=staff_actor)
    line_confirm(
        line_id=line_of(published_cast, published_cast.ehpad).pk,
        quantity=20,
        reason="Stock national insuffisant",
        actor=staff_actor,
    )
    follow_up = order_follow_up(order=published_cast.order, at=timezone.now(), reveal=True)
    reader = _reader(render_summary_pdf(follow_up))
    text = _text(reader)

    assert len(reader.pages) == 1
    pharmacy = published_cast.order.pharmacy
    assert "Récapitulatif de commande" in text
    assert pharmacy.name in text and pharmacy.finess in text
    assert published_cast.order.reference in text
    assert published_cast.session.label_dates in text
    assert "Livraison prévue" in text
    assert "à partir du lendemain" in text
    # Moderna: 10 + 20 + 10 + 5 + 3 + 30 = 78 requested, 68 confirmed (EHPAD reduced 30 → 20), 680 doses.
    assert "78 flacons" in text and "68 flacons" in text and "680" in text
    assert "2 boîtes" in text  # syringes, in boxes
    assert "Stock national insuffisant" in text
    assert "Jeanne LAMBERT" in text
    assert "Infirmiers (IDE) (total)" in text
    assert "30 jours maximum entre 2 et 8 °C" in text
    assert "se référer à la fiche technique" in text  # syringes have no storage rule


def test_summary_is_tagged_pdf_ua_in_french_with_a_title_and_marianne_embedded(published_cast):
    follow_up = order_follow_up(order=published_cast.order, at=timezone.now(), reveal=True)
    reader = _reader(render_summary_pdf(follow_up))
    root = reader.trailer["/Root"]
    assert bool(root["/MarkInfo"]["/Marked"]) is True
    assert "/StructTreeRoot" in root
    assert root["/Lang"] == "fr"
    assert reader.metadata.title.startswith(f"Récapitulatif de commande {published_cast.order.reference}")
    assert b"pdfuaid:part" in root["/Metadata"].get_object().get_data()
    assert any("Marianne" in name for name in _fonts(reader))


def test_a_pharmacy_with_300_lines_gets_several_pages_with_the_table_header_repeated(pharmacy_a):
    session = make_session("published")
    product = moderna()
    doctors = [factories.attached_effector(pharmacy_a, "doctor") for _ in range(300)]
    order = add_order(pharmacy_a, session, [(doctor, product, 3) for doctor in doctors])
    OrderLine.objects.filter(order=order).update(quantity_confirmed=2, reduction_reason="Répartition")

    follow_up = order_follow_up(order=order, at=timezone.now(), reveal=True)
    reader = _reader(render_summary_pdf(follow_up))

    assert len(reader.pages) >= 5
    page_texts = [page.extract_text() for page in reader.pages]
    table_pages = [text for text in page_texts if "DOCTEUR" in text]
    assert len(table_pages) >= 4
    for text in table_pages:
        # The <thead> of the lines table is repeated on every page it spans.
        assert "Effecteur" in text and "Motif de réduction" in text
    full = "\n".join(page_texts)
    assert "900 flacons" in full and "600 flacons" in full  # totals: 300 × 3 requested, 300 × 2 confirmed
    assert f"page {len(reader.pages)} / {len(reader.pages)}" in page_texts[-1]


def test_unconfirmed_lines_read_in_progress(published_cast):
    follow_up = order_follow_up(order=published_cast.order, at=timezone.now(), reveal=True)
    text = _text(_reader(render_summary_pdf(follow_up)))
    assert "En cours de traitement" in text


def test_summary_is_stored_once_and_rendered_again_when_the_confirmation_changes(published_cast, staff_actor):
    order = published_cast.order
    first = summary_render(order_id=order.pk)
    first_name, first_hash = first.file.name, first.content_hash
    assert default_storage.exists(first_name)
    with default_storage.open(first_name, "rb") as handle:
        stored = handle.read()
    assert first.size == len(stored)
    assert first.page_count == len(_reader(stored).pages)

    again = summary_render(order_id=order.pk)
    assert (again.file.name, again.content_hash) == (first_name, first_hash)  # unchanged: not rendered

    lines_confirm_as_ordered(session=published_cast.session, actor=staff_actor)
    changed = summary_render(order_id=order.pk)
    assert changed.content_hash != first_hash
    assert changed.file.name != first_name
    assert OrderSummary.objects.filter(order=order).count() == 1
    with default_storage.open(changed.file.name, "rb") as handle:
        assert "78 flacons" in _text(_reader(handle.read()))


def test_empty_page_renders():
    assert _reader(render_empty_page()).pages


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin/",
        "https://example.org/font.woff2",
        "file:///etc/passwd",
        "static:../../../../etc/passwd",
        "static:/etc/passwd",
        "static:does/not/exist.css",
        "data:text/css,body{}",
    ],
)
def test_the_url_fetcher_refuses_anything_but_known_static_files(url):
    with pytest.raises(ValueError, match=r"refusé|introuvable"):
        StaticFilesURLFetcher().fetch(url)


def test_the_url_fetcher_serves_the_marianne_font_from_static_files():
    response = StaticFilesURLFetcher().fetch("static:fulfilment/fonts/Marianne-Regular.otf")
    assert response.read(4) == b"OTTO"  # OpenType with CFF outlines
    css = StaticFilesURLFetcher().fetch("static:fulfilment/pdf/summary.css")
    assert css.content_type == "text/css"


def test_cancelled_orders_get_no_summary(pharmacy_a):
    order = add_order(pharmacy_a, make_session("published"), [(factories.own_effector(pharmacy_a), syringes(), 1)])
    order.status = order.Status.CANCELLED
    order.cancelled_at = timezone.now()
    order.save()
    assert summary_render(order_id=order.pk) is None


def test_the_small_user_agent_stylesheet_replaces_weasyprints():
    from weasyprint import HTML

    from fulfilment.pdf import renderer

    assert callable(getattr(HTML, "_ua_stylesheets", None))  # the WeasyPrint hook we override still exists
    current = renderer()
    assert current.html_class(string="<p>x</p>")._ua_stylesheets() == [current.html_class.ua_stylesheet]


def test_a_batch_renders_only_the_summaries_whose_content_changed(published_cast, pharmacy_b, staff_actor):
    from fulfilment.services import summaries_render

    other = add_order(pharmacy_b, published_cast.session, [(factories.own_effector(pharmacy_b), syringes(), 3)])
    first = summaries_render(order_ids=[published_cast.order.pk, other.pk])
    names = {order_id: summary.file.name for order_id, summary in first.items()}
    line_confirm(line_id=line_of(published_cast, published_cast.doctor).pk, quantity=10, reason="", actor=staff_actor)

    again = summaries_render(order_ids=[published_cast.order.pk, other.pk, 999_999])
    assert set(again) == {published_cast.order.pk, other.pk}  # the unknown order is left out
    assert again[other.pk].file.name == names[other.pk]  # unchanged: not rendered again
    assert again[published_cast.order.pk].file.name != names[published_cast.order.pk]
