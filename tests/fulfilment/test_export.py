"""The logistics export: stable documented columns, confirmed lines only, delivery date per region,
states generated → sent / failed, re-export as a new numbered file."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.utils import timezone

from fulfilment.errors import FulfilmentError
from fulfilment.models import LogisticsExport
from fulfilment.services import (
    EXPORT_COLUMNS,
    delivery_dates_set,
    line_confirm,
    lines_confirm_as_ordered,
    logistics_export_generate,
    logistics_export_request,
    logistics_export_send,
)
from tests import factories
from tests.fulfilment.conftest import add_order, line_of
from vaccine_orders.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

EXPECTED_HEADER = (
    "session_id;session_ouverture;reference_commande;finess_officine;raison_sociale_officine;adresse_officine;"
    "code_postal_officine;commune_officine;code_region;date_livraison;code_type_effecteur;type_effecteur;"
    "type_identifiant_effecteur;identifiant_effecteur;nom_effecteur;code_produit;produit;rang_injection;unite;"
    "quantite_confirmee;quantite_demandee;motif_reduction"
)


def _generate(session, actor):
    export = logistics_export_request(session=session, actor=actor)
    return logistics_export_generate(export_id=export.pk)


def _rows(export):
    with default_storage.open(export.file.name, "rb") as handle:
        text = handle.read().decode("utf-8-sig")
    return text, list(csv.DictReader(io.StringIO(text), delimiter=";"))


def test_the_header_is_the_documented_contract():
    assert ";".join(name for name, _ in EXPORT_COLUMNS) == EXPECTED_HEADER
    assert all(description for _, description in EXPORT_COLUMNS)


def test_the_export_lists_confirmed_lines_with_the_regional_delivery_date(
    closed_cast, pharmacy_b, staff_actor, django_capture_on_commit_callbacks
):
    session = closed_cast.session
    lines_confirm_as_ordered(session=session, actor=staff_actor)
    line_confirm(
        line_id=line_of(closed_cast, closed_cast.doctor_no_email).pk, quantity=0, reason="x", actor=staff_actor
    )
    line_confirm(line_id=line_of(closed_cast, closed_cast.ehpad).pk, quantity=20, reason="Stock", actor=staff_actor)
    lyon = factories.PharmacyFactory(name='=HYPERLINK("x")', department=factories.department("69"))
    add_order(lyon, session, [(factories.own_effector(lyon), closed_cast.moderna, 7)])
    lines_confirm_as_ordered(session=session, actor=staff_actor)
    day = timezone.localdate() + timedelta(days=9)
    delivery_dates_set(
        session=session, default_date=day, regional={factories.region("84"): day + timedelta(days=2)}, actor=staff_actor
    )

    export = _generate(session, staff_actor)

    assert export.state == LogisticsExport.State.GENERATED
    text, rows = _rows(export)
    assert text.splitlines()[0] == EXPECTED_HEADER
    assert export.row_count == len(rows) == 7  # 7 lines in Paris minus the one confirmed at 0, plus Lyon's
    paris = [row for row in rows if row["finess_officine"] == closed_cast.order.pharmacy.finess]
    assert {row["date_livraison"] for row in paris} == {day.isoformat()}
    lyon_row = next(row for row in rows if row["finess_officine"] == lyon.finess)
    assert lyon_row["date_livraison"] == (day + timedelta(days=2)).isoformat()
    assert lyon_row["code_region"] == "84"
    assert lyon_row["raison_sociale_officine"].startswith("'=")  # formula neutralised
    ehpad = next(row for row in paris if row["code_type_effecteur"] == "ehpad")
    assert (ehpad["quantite_confirmee"], ehpad["quantite_demandee"], ehpad["motif_reduction"]) == ("20", "30", "Stock")
    assert ehpad["type_identifiant_effecteur"] == "FINESS"
    assert ehpad["identifiant_effecteur"] == closed_cast.ehpad.establishment.finess
    doctor = next(row for row in paris if row["identifiant_effecteur"] == closed_cast.doctor.professional.rpps)
    assert (doctor["type_identifiant_effecteur"], doctor["nom_effecteur"]) == ("RPPS", "Jeanne LAMBERT")
    nurses = next(row for row in paris if row["code_type_effecteur"] == "nurse")
    assert nurses["identifiant_effecteur"] == "" and nurses["unite"] == "flacon"
    syringes = next(row for row in paris if row["code_produit"] == "seringues")
    assert syringes["unite"] == "boîte"
    assert len(export.sha256) == 64


def test_sending_moves_the_export_to_sent_and_a_failure_to_failed(closed_cast, staff_actor, settings):
    lines_confirm_as_ordered(session=closed_cast.session, actor=staff_actor)
    export = _generate(closed_cast.session, staff_actor)

    settings.LOGISTICS_EXPORT_EMAIL = ""
    with pytest.raises(FulfilmentError):
        logistics_export_send(export_id=export.pk, actor=staff_actor)

    settings.LOGISTICS_EXPORT_EMAIL = "logistique@example.org"
    sent = logistics_export_send(export_id=export.pk, actor=staff_actor)
    assert sent.state == LogisticsExport.State.SENT and sent.sent_to == "logistique@example.org"
    assert mail.outbox[-1].to == ["logistique@example.org"]
    name, content, mimetype = mail.outbox[-1].attachments[0]
    assert name.endswith("-001.csv") and mimetype == "text/csv"
    assert content.splitlines()[0].lstrip("\ufeff").startswith("session_id;")

    settings.EMAIL_BACKEND = "tests.fulfilment.test_export.BrokenBackend"
    failed = logistics_export_send(export_id=export.pk, actor=staff_actor)
    assert failed.state == LogisticsExport.State.FAILED
    assert "Connexion refusée" in failed.error
    assert AuditEvent.objects.filter(action="fulfilment.export_failed").exists()


def test_a_re_export_is_a_new_numbered_file(closed_cast, staff_actor):
    lines_confirm_as_ordered(session=closed_cast.session, actor=staff_actor)
    first = _generate(closed_cast.session, staff_actor)
    line_confirm(line_id=line_of(closed_cast, closed_cast.ehpad).pk, quantity=1, reason="Stock", actor=staff_actor)
    second = _generate(closed_cast.session, staff_actor)
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.file.name != second.file.name and first.sha256 != second.sha256
    assert default_storage.exists(first.file.name)


def test_generating_twice_keeps_the_first_file(closed_cast, staff_actor):
    export = _generate(closed_cast.session, staff_actor)
    again = logistics_export_generate(export_id=export.pk)
    assert again.file.name == export.file.name


def test_a_pending_export_cannot_be_sent(closed_cast, staff_actor, settings):
    settings.LOGISTICS_EXPORT_EMAIL = "logistique@example.org"
    export = logistics_export_request(session=closed_cast.session, actor=staff_actor)
    with pytest.raises(FulfilmentError) as error:
        logistics_export_send(export_id=export.pk, actor=staff_actor)
    assert error.value.code == "export_not_generated"


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("Connexion refusée")
