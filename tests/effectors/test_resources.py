"""The previous portal's attachments, imported through django-import-export and the attach service."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from accounts.models import Pharmacy
from effectors.models import Attachment
from effectors.resources import AttachmentMigrationResource, FrenchCSV
from effectors.samples.generate import P_LYON, P_PARIS, rpps
from tests import factories
from vaccine_orders.audit.models import AuditEvent

from .conftest import ATTACHMENTS_SAMPLE

pytestmark = pytest.mark.django_db


def dataset(text: str):
    return FrenchCSV().create_dataset(text)


def import_sample(*, dry_run: bool, user=None):
    return AttachmentMigrationResource().import_data(
        dataset(ATTACHMENTS_SAMPLE.read_text(encoding="utf-8")), dry_run=dry_run, user=user
    )


def errors_by_row(result) -> dict[int, str]:
    return {row.number: " ".join(m for ms in row.error_dict.values() for m in ms) for row in result.invalid_rows}


def test_both_delimiters_are_read():
    semicolon = dataset("finess_officine;identifiant;date_rattachement\n1;2;3\n")
    comma = dataset("finess_officine,identifiant,date_rattachement\n1,2,3\n")
    assert semicolon.headers == comma.headers == ["finess_officine", "identifiant", "date_rattachement"]


def test_the_dry_run_lists_row_errors_and_writes_nothing(referential):
    result = import_sample(dry_run=True)
    assert result.totals["new"] == 4
    errors = errors_by_row(result)
    assert set(errors) == {5, 6, 7, 8}
    assert "déjà rattaché(e) à une autre officine, à PARIS" in errors[5]
    assert "Aucune officine de FINESS" in errors[6]
    assert "total unique" in errors[7]
    assert "clé de contrôle" in errors[8]
    assert not Attachment.objects.filter(source=Attachment.Source.MIGRATION).exists()
    assert not AuditEvent.objects.filter(action="effector.attached").exists()


def test_the_real_import_attaches_through_the_service_with_dates_and_audit(referential):
    agent = factories.StaffUserFactory(username="agent.spf")
    result = import_sample(dry_run=False, user=agent)
    assert result.totals["new"] == 4 and len(result.invalid_rows) == 4
    migrated = Attachment.objects.filter(source=Attachment.Source.MIGRATION).select_related(
        "pharmacy", "effector__type"
    )
    assert {(a.pharmacy.finess, a.effector.type.code) for a in migrated} == {
        (P_PARIS, "doctor"),
        (P_PARIS, "ehpad"),
        (P_LYON, "occupational_doctor"),
        (P_LYON, "midwife"),
    }
    dupont = migrated.get(effector__professional__rpps=rpps(1))
    assert timezone.localtime(dupont.attached_at).date() == date(2021, 3, 15)
    assert dupont.attached_by == agent
    event = AuditEvent.objects.filter(action="effector.attached", pharmacy__finess=P_PARIS).first()
    assert event.actor == agent and "Reprise de l'ancien portail" in event.actor_label


def test_importing_the_file_twice_skips_what_is_already_in_place(referential):
    import_sample(dry_run=False)
    again = import_sample(dry_run=False)
    assert again.totals["new"] == 0 and again.totals["skip"] == 4
    assert Attachment.objects.filter(source=Attachment.Source.MIGRATION).count() == 4


def test_a_bad_date_and_a_future_date_are_row_errors(referential):
    text = "\n".join(
        [
            "finess_officine;identifiant;date_rattachement",
            f"{P_PARIS};{rpps(1)};31/02/2021",
            f"{P_PARIS};{rpps(3)};01/01/2999",
        ]
    )
    result = AttachmentMigrationResource().import_data(dataset(text), dry_run=True)
    errors = errors_by_row(result)
    assert "illisible" in errors[1] and "dans le futur" in errors[2]
    assert Pharmacy.objects.filter(finess=P_PARIS).exists()
