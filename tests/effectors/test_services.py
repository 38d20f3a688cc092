"""Attach, detach, contact e-mail and transfers: the rules, the named errors, the audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from effectors import services
from effectors.errors import EffectorError
from effectors.models import Attachment, Effector, TransferRequest
from tests import factories
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")


@pytest.fixture
def doctor(db):
    return factories.ProfessionalFactory(last_name="DUPONT", first_name="Jean")


@pytest.fixture
def lyon(db):
    return factories.PharmacyFactory(city="Lyon", name="Pharmacie Secrète des Terreaux")


def attach(pharmacy, identifier):
    return services.attachment_attach(pharmacy=pharmacy, identifier=identifier, actor=SYSTEM)


def error_of(callable_, *args, **kwargs) -> EffectorError:
    with pytest.raises(EffectorError) as caught:
        callable_(*args, **kwargs)
    return caught.value


# --- attach ------------------------------------------------------------------------------------------


def test_attaching_a_doctor_creates_its_effector_the_attachment_and_an_audit_event(pharmacy_a, doctor):
    attachment = attach(pharmacy_a, doctor.rpps)
    assert attachment.pharmacy == pharmacy_a and attachment.detached_at is None
    assert attachment.source == Attachment.Source.PHARMACY
    assert attachment.effector.type.code == "doctor"
    event = AuditEvent.objects.get(action="effector.attached")
    assert event.pharmacy == pharmacy_a
    assert "DUPONT" in event.summary and doctor.rpps in event.summary


def test_the_effector_type_follows_the_referential(pharmacy_a):
    occupational = factories.ProfessionalFactory(specialty_code="SM25")
    midwife = factories.ProfessionalFactory(profession_code="50", profession_label="Sage-Femme")
    dentist = factories.ProfessionalFactory(profession_code="40")
    pmi = factories.EstablishmentFactory(category_code="223", name="PMI Belleville")
    eam = factories.EstablishmentFactory(category_code="448")
    types = {
        entry: attach(pharmacy_a, entry).effector.type.code
        for entry in (occupational.rpps, midwife.rpps, dentist.rpps, pmi.finess, eam.finess)
    }
    assert list(types.values()) == ["occupational_doctor", "midwife", "dental_surgeon", "pmi", "fam"]


def test_an_unknown_number_is_not_found_in_the_referential(pharmacy_a):
    unknown = factories.ProfessionalFactory.build().rpps
    error = error_of(attach, pharmacy_a, unknown)
    assert error.code == EffectorError.NOT_FOUND
    assert unknown in error.message and "référentiel national" in error.message


def test_an_entry_inactive_in_the_referential_cannot_be_attached(pharmacy_a):
    retired = factories.ProfessionalFactory(is_active=False)
    assert error_of(attach, pharmacy_a, retired.rpps).code == EffectorError.INACTIVE
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    ("profession", "words"),
    [("60", "total unique"), ("21", "Pharmacien (officine)"), ("70", "ne commande pas via une officine")],
)
def test_nurses_pharmacists_and_other_professions_are_not_attached_by_name(pharmacy_a, profession, words):
    professional = factories.ProfessionalFactory(profession_code=profession)
    error = error_of(attach, pharmacy_a, professional.rpps)
    assert error.code == EffectorError.NOT_ATTACHABLE and words in error.message
    assert not Effector.objects.filter(professional=professional).exists()


def test_an_establishment_of_another_category_is_not_attachable(pharmacy_a):
    hospital = factories.EstablishmentFactory(category_code="101", category_label="C.H.R.")
    assert error_of(attach, pharmacy_a, hospital.finess).code == EffectorError.NOT_ATTACHABLE


def test_attaching_twice_to_the_same_officine_says_so(pharmacy_a, doctor):
    attach(pharmacy_a, doctor.rpps)
    assert error_of(attach, pharmacy_a, doctor.rpps).code == EffectorError.ALREADY_ATTACHED_HERE


def test_attached_elsewhere_names_the_other_officine_by_its_town_only(pharmacy_a, lyon, doctor):
    attach(lyon, doctor.rpps)
    error = error_of(attach, pharmacy_a, doctor.rpps)
    assert error.code == EffectorError.ALREADY_ATTACHED_ELSEWHERE
    assert error.context["town"] == "Lyon"
    assert "à Lyon" in error.message
    assert "Secrète" not in error.message and lyon.finess not in error.message


def test_the_unique_index_catches_an_attach_that_slipped_past_the_check(pharmacy_a, lyon, doctor, monkeypatch):
    """Deterministic stand-in for the race: the check sees no attachment, the insert hits the partial unique
    index, and the user still gets the named state instead of an error page."""
    attach(lyon, doctor.rpps)
    real = services._active_attachment
    calls = []

    def blind_first_time(effector):
        calls.append(effector)
        return None if len(calls) == 1 else real(effector)

    monkeypatch.setattr(services, "_active_attachment", blind_first_time)
    error = error_of(attach, pharmacy_a, doctor.rpps)
    assert error.code == EffectorError.ALREADY_ATTACHED_ELSEWHERE
    assert Attachment.objects.filter(detached_at__isnull=True).count() == 1


# --- detach ------------------------------------------------------------------------------------------


def test_detaching_closes_the_attachment_keeps_the_history_and_frees_the_effector(pharmacy_a, lyon, doctor):
    attachment = attach(pharmacy_a, doctor.rpps)
    services.attachment_detach(pharmacy=pharmacy_a, attachment=attachment, actor=SYSTEM)
    attachment.refresh_from_db()
    assert attachment.detached_at is not None
    assert AuditEvent.objects.filter(action="effector.detached", pharmacy=pharmacy_a).count() == 1
    again = attach(lyon, doctor.rpps)
    assert Attachment.objects.filter(effector=again.effector).count() == 2


def test_detaching_twice_or_someone_elses_attachment_is_refused(pharmacy_a, pharmacy_b, doctor):
    attachment = attach(pharmacy_a, doctor.rpps)
    other = error_of(services.attachment_detach, pharmacy=pharmacy_b, attachment=attachment, actor=SYSTEM)
    assert other.code == EffectorError.NOT_ATTACHED
    services.attachment_detach(pharmacy=pharmacy_a, attachment=attachment, actor=SYSTEM)
    twice = error_of(services.attachment_detach, pharmacy=pharmacy_a, attachment=attachment, actor=SYSTEM)
    assert twice.code == EffectorError.NOT_ATTACHED


def test_the_officines_own_lines_cannot_be_detached(pharmacy_a):
    nurses = factories.own_effector(pharmacy_a, "nurse")
    attachment = nurses.attachments.get()
    error = error_of(services.attachment_detach, pharmacy=pharmacy_a, attachment=attachment, actor=SYSTEM)
    assert error.code == EffectorError.OWN_LINE


def test_own_lines_are_created_once(pharmacy_a):
    services.pharmacy_own_effectors_ensure(pharmacy=pharmacy_a)
    services.pharmacy_own_effectors_ensure(pharmacy=pharmacy_a)
    assert sorted(Effector.objects.filter(pharmacy=pharmacy_a).values_list("type__code", flat=True)) == [
        "nurse",
        "pharmacist",
    ]
    assert Attachment.objects.filter(pharmacy=pharmacy_a, detached_at__isnull=True).count() == 2
    assert AuditEvent.objects.filter(action="effector.own_lines_created").count() == 1


# --- contact e-mail ----------------------------------------------------------------------------------


def test_the_contact_email_is_validated_saved_and_audited(pharmacy_a, doctor):
    attachment = attach(pharmacy_a, doctor.rpps)
    services.effector_contact_update(
        pharmacy=pharmacy_a, attachment=attachment, email=" Dr.Dupont@Exemple.FR ", actor=SYSTEM
    )
    doctor.refresh_from_db()
    assert doctor.email == "Dr.Dupont@exemple.fr"
    event = AuditEvent.objects.get(action="effector.contact_changed")
    assert (event.pharmacy, event.before, event.after) == (pharmacy_a, {"email": ""}, {"email": "Dr.Dupont@exemple.fr"})
    with pytest.raises(ValidationError):
        services.effector_contact_update(pharmacy=pharmacy_a, attachment=attachment, email="dupont@", actor=SYSTEM)
    doctor.refresh_from_db()
    assert doctor.email == "Dr.Dupont@exemple.fr"


def test_only_doctors_midwives_and_dental_surgeons_have_a_contact_email(pharmacy_a, pharmacy_b, doctor):
    ehpad = factories.EstablishmentFactory()
    attachment = attach(pharmacy_a, ehpad.finess)
    error = error_of(
        services.effector_contact_update, pharmacy=pharmacy_a, attachment=attachment, email="a@b.fr", actor=SYSTEM
    )
    assert error.code == EffectorError.NO_MAILING
    doctors = attach(pharmacy_a, doctor.rpps)
    other = error_of(
        services.effector_contact_update, pharmacy=pharmacy_b, attachment=doctors, email="a@b.fr", actor=SYSTEM
    )
    assert other.code == EffectorError.NOT_ATTACHED


# --- transfers ---------------------------------------------------------------------------------------


def request_transfer(pharmacy, identifier):
    return services.transfer_request_create(pharmacy=pharmacy, identifier=identifier, actor=SYSTEM)


def test_a_transfer_request_is_written_to_both_officines_histories(pharmacy_a, lyon, doctor):
    attach(lyon, doctor.rpps)
    transfer = request_transfer(pharmacy_a, doctor.rpps)
    assert (transfer.from_pharmacy, transfer.to_pharmacy, transfer.status) == (lyon, pharmacy_a, "pending")
    assert AuditEvent.objects.filter(action="effector.transfer_requested", pharmacy=pharmacy_a).exists()
    received = AuditEvent.objects.get(action="effector.transfer_received", pharmacy=lyon)
    assert pharmacy_a.name not in received.summary
    assert request_transfer_error(pharmacy_a, doctor.rpps) == EffectorError.TRANSFER_PENDING


def request_transfer_error(pharmacy, identifier) -> str:
    return error_of(request_transfer, pharmacy, identifier).code


def test_a_transfer_needs_an_effector_attached_to_another_officine(pharmacy_a, doctor):
    assert request_transfer_error(pharmacy_a, doctor.rpps) == EffectorError.NOT_ATTACHED
    attach(pharmacy_a, doctor.rpps)
    assert request_transfer_error(pharmacy_a, doctor.rpps) == EffectorError.ALREADY_ATTACHED_HERE


def test_the_current_officine_accepts_and_the_effector_moves(pharmacy_a, lyon, doctor):
    old = attach(lyon, doctor.rpps)
    transfer = request_transfer(pharmacy_a, doctor.rpps)
    services.transfer_request_answer(pharmacy=lyon, transfer=transfer, accept=True, actor=SYSTEM)
    old.refresh_from_db()
    transfer.refresh_from_db()
    new = Attachment.objects.get(effector=old.effector, detached_at__isnull=True)
    assert old.detached_at is not None
    assert (new.pharmacy, new.source) == (pharmacy_a, Attachment.Source.TRANSFER)
    assert (transfer.status, transfer.decided_by_support) == ("accepted", False)
    assert AuditEvent.objects.filter(action="effector.transfer_accepted").count() == 2
    again = error_of(services.transfer_request_answer, pharmacy=lyon, transfer=transfer, accept=False, actor=SYSTEM)
    assert again.code == EffectorError.TRANSFER_NOT_PENDING


def test_the_current_officine_refuses_and_nothing_moves(pharmacy_a, lyon, doctor):
    attach(lyon, doctor.rpps)
    transfer = request_transfer(pharmacy_a, doctor.rpps)
    services.transfer_request_answer(pharmacy=lyon, transfer=transfer, accept=False, actor=SYSTEM)
    assert Attachment.objects.get(detached_at__isnull=True).pharmacy == lyon
    transfer.refresh_from_db()
    assert transfer.status == "refused"


def test_only_the_addressed_officine_answers_and_only_the_requester_cancels(pharmacy_a, lyon, doctor):
    attach(lyon, doctor.rpps)
    transfer = request_transfer(pharmacy_a, doctor.rpps)
    assert (
        error_of(
            services.transfer_request_answer, pharmacy=pharmacy_a, transfer=transfer, accept=True, actor=SYSTEM
        ).code
        == EffectorError.TRANSFER_NOT_PENDING
    )
    assert error_of(services.transfer_request_cancel, pharmacy=lyon, transfer=transfer, actor=SYSTEM).code == (
        EffectorError.TRANSFER_NOT_PENDING
    )
    services.transfer_request_cancel(pharmacy=pharmacy_a, transfer=transfer, actor=SYSTEM)
    transfer.refresh_from_db()
    assert transfer.status == "cancelled"


def test_support_decides_only_after_seven_days_without_answer(pharmacy_a, lyon, doctor):
    attach(lyon, doctor.rpps)
    transfer = request_transfer(pharmacy_a, doctor.rpps)
    early = error_of(services.transfer_request_decide_by_support, transfer=transfer, accept=True, actor=SYSTEM)
    assert early.code == EffectorError.TRANSFER_NOT_OVERDUE
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        services.transfer_request_decide_by_support(transfer=transfer, accept=True, actor=SYSTEM)
    transfer.refresh_from_db()
    assert (transfer.status, transfer.decided_by_support) == ("accepted", True)
    moved = Attachment.objects.get(detached_at__isnull=True)
    assert (moved.pharmacy, moved.source) == (pharmacy_a, Attachment.Source.SUPPORT)


def test_detaching_lets_a_pending_transfer_lapse(pharmacy_a, lyon, doctor):
    attachment = attach(lyon, doctor.rpps)
    transfer = request_transfer(pharmacy_a, doctor.rpps)
    services.attachment_detach(pharmacy=lyon, attachment=attachment, actor=SYSTEM)
    transfer.refresh_from_db()
    assert transfer.status == TransferRequest.Status.CANCELLED
    assert "rattaché directement" in transfer.decision_note


def test_a_transfer_overtaken_by_a_third_officine_is_stale(pharmacy_a, pharmacy_b, lyon, doctor):
    attachment = attach(lyon, doctor.rpps)
    transfer = request_transfer(pharmacy_a, doctor.rpps)
    # The effector moves elsewhere in the meantime, outside the request.
    Attachment.objects.filter(pk=attachment.pk).update(detached_at=timezone.now())
    attach(pharmacy_b, doctor.rpps)
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        error = error_of(services.transfer_request_decide_by_support, transfer=transfer, accept=True, actor=SYSTEM)
    assert error.code == EffectorError.TRANSFER_STALE
