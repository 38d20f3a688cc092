"""Importing the FINESS extraction: officines (620) and the establishments that order through them."""

from __future__ import annotations

import pytest

from accounts.models import Pharmacy
from effectors.models import Attachment, Effector, EffectorType, Establishment, ReferentialImport
from effectors.referential.synthetic import FINESS_METADATA, finess_geolocation_line, finess_structure_line
from effectors.samples.generate import P_AJACCIO, P_LYON, P_PARIS, P_REUNION
from effectors.services import attachment_attach
from tests import factories
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.identifiers import make_finess

from .conftest import FINESS_SAMPLE, run_import

pytestmark = pytest.mark.django_db
FINESS = ReferentialImport.Kind.FINESS


def write(tmp_path, lines: list[str]):
    path = tmp_path / "finess.csv"
    path.write_bytes(("\n".join([FINESS_METADATA, *lines]) + "\n").encode("latin-1"))
    return path


def ehpad(n: int, **values) -> str:
    return finess_structure_line(
        **{
            "finess": make_finess(f"75{n + 300000:06d}"),
            "name": f"EHPAD {n}",
            "category": "500",
            "category_label": "Etablissement d'hébergement pour personnes âgées dépendantes",
            **values,
        }
    )


def officine(n: int, **values) -> str:
    return finess_structure_line(
        **{
            "finess": make_finess(f"75{n + 400000:06d}"),
            "name": f"PHARMACIE {n}",
            "category": "620",
            "category_label": "Pharmacie d'Officine",
            **values,
        }
    )


def test_the_verified_category_codes_are_those_of_the_effector_types(db):
    codes = dict(EffectorType.objects.values_list("code", "finess_categories"))
    assert codes["msp"] == ["603"]
    assert codes["cds"] == ["124"]
    assert codes["lbm"] == ["611"]
    assert codes["fam"] == ["437", "448"]
    assert codes["mas"] == ["255"]
    assert codes["ehpad"] == ["500"]
    assert codes["usld"] == ["362"]
    assert codes["residence_autonomie"] == ["202"]
    assert codes["sst"] == ["616"]
    assert codes["ssu"] == ["269"]
    assert codes["pmi"] == ["223"]
    assert EffectorType.objects.get(code="occupational_doctor").rpps_specialty_codes == ["SM25"]


def test_the_sample_file_creates_officines_and_establishments(db):
    run = run_import(FINESS, FINESS_SAMPLE)
    assert run.status == ReferentialImport.Status.SUCCEEDED
    assert (run.lines_read, run.created_count, run.rejected_count, run.skipped_count) == (26, 17, 4, 4)
    assert run.details["officines"]["créées"] == 5
    assert run.details["établissements"]["créées"] == 12
    assert run.details["lignes geolocalisation"] == 3

    paris = Pharmacy.objects.get(finess=P_PARIS)
    assert (paris.name, paris.address, paris.postal_code, paris.city, paris.department.code) == (
        "PHARMACIE DE LA BASTILLE",
        "12 RUE DE LA ROQUETTE",
        "75011",
        "PARIS",
        "75",
    )
    assert paris.legal_finess == make_finess("75090100")
    assert Pharmacy.objects.get(finess=P_LYON).address == "3 PLACE DES TERREAUX"
    # Overseas departments are written 9A…9F in the FINESS; Corsica keeps 2A/2B.
    assert Pharmacy.objects.get(finess=P_REUNION).department.code == "974"
    assert Pharmacy.objects.get(finess=P_AJACCIO).department.code == "2A"

    categories = set(Establishment.objects.values_list("category_code", flat=True))
    assert categories == {"500", "603", "223", "269", "616", "611", "124", "437", "255", "362", "202", "448"}
    ehpad_row = Establishment.objects.get(category_code="500")
    # Latin-1 in the file, read right.
    assert ehpad_row.category_label == "Etablissement d'hébergement pour personnes âgées dépendantes"
    assert not Establishment.objects.filter(name="HOPITAL SAINT-ANTOINE").exists()


def test_malformed_finess_lines_are_rejected_with_their_number(db):
    run = run_import(FINESS, FINESS_SAMPLE)
    rejections = {r.line_number: r.reason for r in run.rejections.all()}
    assert set(rejections) == {23, 24, 25, 26}
    assert "clé de contrôle" in rejections[23]
    assert "nombre de colonnes incorrect" in rejections[24]
    assert "type de ligne inconnu « structurexx »" in rejections[25]
    assert "département « 975 » inconnu" in rejections[26]


def test_new_officines_get_their_own_lines_attached(db):
    run_import(FINESS, FINESS_SAMPLE)
    paris = Pharmacy.objects.get(finess=P_PARIS)
    own = Effector.objects.filter(pharmacy=paris)
    assert set(own.values_list("type__code", flat=True)) == {"pharmacist", "nurse"}
    assert Attachment.objects.filter(effector__in=own, pharmacy=paris, detached_at__isnull=True).count() == 2
    created = AuditEvent.objects.get(action="referential.created", pharmacy=paris)
    assert "PHARMACIE DE LA BASTILLE" in created.summary


def test_reimporting_the_finess_changes_nothing_and_never_touches_what_the_officine_entered(db):
    run_import(FINESS, FINESS_SAMPLE)
    Pharmacy.objects.filter(finess=P_PARIS).update(email="contact@bastille.example", reminders_enabled=False)
    again = run_import(FINESS, FINESS_SAMPLE)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 17)
    paris = Pharmacy.objects.get(finess=P_PARIS)
    assert (paris.email, paris.reminders_enabled) == ("contact@bastille.example", False)


def test_a_renamed_officine_is_updated_and_audited_on_its_own_history(tmp_path):
    run_import(FINESS, write(tmp_path, [officine(1), officine(2), ehpad(1)]))
    run = run_import(FINESS, write(tmp_path, [officine(1, name="PHARMACIE NOUVELLE"), officine(2), ehpad(1)]))
    assert (run.updated_count, run.unchanged_count) == (1, 2)
    renamed = Pharmacy.objects.get(name="PHARMACIE NOUVELLE")
    event = AuditEvent.objects.get(action="referential.updated")
    assert event.pharmacy == renamed
    assert event.before == {"name": "PHARMACIE 1"} and event.after == {"name": "PHARMACIE NOUVELLE"}


def test_a_closed_establishment_is_deactivated_and_its_attachment_flagged(tmp_path):
    run_import(FINESS, write(tmp_path, [officine(1), ehpad(1), ehpad(2), ehpad(3)]))
    pharmacy = Pharmacy.objects.get(name="PHARMACIE 1")
    closing = Establishment.objects.get(name="EHPAD 1")
    attachment = attachment_attach(pharmacy=pharmacy, identifier=closing.finess, actor=Actor.system())

    run = run_import(FINESS, write(tmp_path, [officine(1), ehpad(2), ehpad(3)]))

    closing.refresh_from_db()
    attachment.refresh_from_db()
    assert closing.is_active is False
    assert attachment.needs_review and "FINESS" in attachment.review_reason
    assert run.flagged_count == 1
    assert AuditEvent.objects.get(action="referential.deactivated").pharmacy == pharmacy


def test_an_officine_gone_from_the_finess_is_deactivated_and_its_effectors_flagged(tmp_path):
    run_import(FINESS, write(tmp_path, [officine(n) for n in range(1, 5)]))
    closing = Pharmacy.objects.get(name="PHARMACIE 1")
    doctor = factories.attached_effector(closing, "doctor")

    run = run_import(FINESS, write(tmp_path, [officine(n) for n in range(2, 5)]))

    closing.refresh_from_db()
    assert closing.is_active is False
    flagged = Attachment.objects.get(effector=doctor)
    assert flagged.needs_review
    # The officine's own lines are not "to review": they go with it.
    assert not Attachment.objects.filter(effector__pharmacy=closing, needs_review=True).exists()
    assert run.flagged_count == 1
    assert AuditEvent.objects.get(action="referential.deactivated").pharmacy == closing


def test_a_file_without_structure_lines_fails(tmp_path):
    run = run_import(FINESS, write(tmp_path, [finess_geolocation_line(finess=make_finess("75000001"))]))
    assert run.status == ReferentialImport.Status.FAILED
    assert "structureet" in run.error_message


def test_quoted_fields_with_semicolons_are_read(tmp_path):
    run = run_import(FINESS, write(tmp_path, [ehpad(1, name='EHPAD "LES PINS; LE PARC"')]))
    assert run.created_count == 1
    assert Establishment.objects.get().name == 'EHPAD "LES PINS; LE PARC"'
