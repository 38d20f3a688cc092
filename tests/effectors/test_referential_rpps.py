"""Importing the RPPS extraction: what goes in, what is rejected (with its line), idempotence, disappearance."""

from __future__ import annotations

import zipfile

import pytest

from accounts.models import PharmacistAuthority
from effectors.models import Attachment, Professional, ReferentialImport, RppsStagingRow
from effectors.referential.synthetic import RPPS_HEADER, RPPS_HEADER_NAMES, rpps_line
from effectors.samples.generate import P_LYON, P_MARSEILLE, P_PARIS, rpps
from effectors.services import attachment_attach, effector_type_for
from tests import factories
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent

from .conftest import FINESS_SAMPLE, RPPS_SAMPLE, run_import

pytestmark = pytest.mark.django_db
RPPS = ReferentialImport.Kind.RPPS


def write(tmp_path, lines: list[str], name: str = "rpps.txt"):
    path = tmp_path / name
    path.write_text("\n".join([RPPS_HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def doctor(n: int, **values) -> str:
    return rpps_line(rpps=rpps(n), **{"last_name": f"NOM{n}", "first_name": "Jean", "profession": "10", **values})


def test_the_sample_file_creates_the_professionals_of_the_effector_professions(referential):
    _, run = referential
    assert (run.lines_read, run.created_count, run.updated_count, run.rejected_count, run.skipped_count) == (
        19,
        11,
        0,
        4,
        2,
    )
    assert set(Professional.objects.values_list("profession_code", flat=True)) == {"10", "21", "40", "50", "60"}
    dupont = Professional.objects.get(rpps=rpps(1))
    assert (dupont.last_name, dupont.first_name, dupont.profession_label) == ("DUPONT", "Jean", "Médecin")
    # The first of a person's lines wins when none carries a distinguishing savoir-faire.
    assert (dupont.postal_code, dupont.city, dupont.department.code, dupont.specialty_code) == (
        "75011",
        "PARIS",
        "75",
        "SM54",
    )
    midwife = Professional.objects.get(rpps=rpps(3))
    assert (midwife.department.code, midwife.city) == ("69", "LYON")
    assert not Professional.objects.filter(last_name__in=["BLANC", "NOIR", "COURT", "CLEF", "GÉRARD"]).exists()
    assert RppsStagingRow.objects.count() == 0  # the staging table is emptied after the merge


def test_an_occupational_doctor_is_told_by_the_savoir_faire_sm25(referential):
    lefevre = Professional.objects.get(rpps=rpps(2))
    assert lefevre.specialty_code == "SM25"  # the SM25 line wins over the SM54 line before it
    assert effector_type_for(lefevre).code == "occupational_doctor"
    assert effector_type_for(Professional.objects.get(rpps=rpps(1))).code == "doctor"


def test_malformed_lines_are_rejected_with_their_number_and_the_rest_goes_in(referential):
    _, run = referential
    rejections = {r.line_number: r.reason for r in run.rejections.all()}
    assert set(rejections) == {17, 18, 19, 20}
    assert "nombre de colonnes incorrect : 20 au lieu de 57" in rejections[17]
    assert "clé de contrôle" in rejections[18]
    assert "nom d'exercice manquant" in rejections[19]
    assert "encodage invalide" in rejections[20]
    assert run.rejections.get(line_number=18).excerpt.startswith("8|")


def test_pharmacists_give_authorities_over_known_officines_with_their_role(referential):
    authorities = {(a.rpps, a.pharmacy.finess): a.role for a in PharmacistAuthority.objects.select_related("pharmacy")}
    Role = PharmacistAuthority.Role
    assert authorities == {
        (rpps(6), P_PARIS): Role.TITULAIRE,
        (rpps(11), P_PARIS): Role.TITULAIRE,
        (rpps(8), P_LYON): Role.GERANT_APRES_DECES,
        (rpps(9), P_MARSEILLE): Role.GERANT_MINIERE_MUTUALISTE,
    }
    # The adjoint (rpps 7) gives no authority; nor does a titulaire of an officine not in the FINESS (rpps 10).
    assert AuditEvent.objects.filter(action="authority.granted").count() == 4
    granted = AuditEvent.objects.get(action="authority.granted", target_repr__contains="GIRARD")
    assert granted.pharmacy.finess == P_LYON


def test_importing_the_same_file_again_changes_nothing(referential):
    before = dict(Professional.objects.values_list("rpps", "updated_at"))
    events = AuditEvent.objects.count()
    again = run_import(RPPS, RPPS_SAMPLE)
    assert (again.created_count, again.updated_count, again.unchanged_count, again.deactivated_count) == (0, 0, 11, 0)
    assert again.details["habilitations"] == {"créées": 0, "modifiées": 0, "inchangées": 4, "désactivées": 0}
    assert dict(Professional.objects.values_list("rpps", "updated_at")) == before
    # Only the run's own summary is journaled.
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)[events:]) == [
        "referential.import_requested",
        "referential.import",
    ]


def test_a_changed_line_updates_the_professional_and_tells_the_officine_it_is_attached_to(tmp_path):
    pharmacy = factories.PharmacyFactory()
    run_import(RPPS, write(tmp_path, [doctor(1), doctor(2)]))
    attachment_attach(pharmacy=pharmacy, identifier=rpps(1), actor=Actor.system())
    run = run_import(RPPS, write(tmp_path, [doctor(1, city="VINCENNES", postal_code="94300"), doctor(2)]))
    assert (run.created_count, run.updated_count, run.unchanged_count) == (0, 1, 1)
    moved = Professional.objects.get(rpps=rpps(1))
    assert (moved.city, moved.postal_code, moved.department.code) == ("VINCENNES", "94300", "75")
    event = AuditEvent.objects.get(action="referential.updated")
    assert event.pharmacy == pharmacy
    assert event.before == {"city": "PARIS", "postal_code": "75011"}
    assert event.after == {"city": "VINCENNES", "postal_code": "94300"}


def test_a_professional_gone_from_the_file_is_deactivated_never_deleted_and_its_attachment_flagged(tmp_path):
    pharmacy = factories.PharmacyFactory()
    run_import(RPPS, write(tmp_path, [doctor(n) for n in range(1, 5)]))
    attachment = attachment_attach(pharmacy=pharmacy, identifier=rpps(1), actor=Actor.system())

    run = run_import(RPPS, write(tmp_path, [doctor(n) for n in range(2, 5)]))

    assert (run.deactivated_count, run.flagged_count) == (1, 1)
    gone = Professional.objects.get(rpps=rpps(1))
    assert gone.is_active is False
    attachment.refresh_from_db()
    assert attachment.needs_review and attachment.detached_at is None
    assert f"import n° {run.pk}" in attachment.review_reason
    event = AuditEvent.objects.get(action="referential.deactivated")
    assert event.pharmacy == pharmacy
    assert "1 rattachement(s) à revoir" in event.summary

    back = run_import(RPPS, write(tmp_path, [doctor(n) for n in range(1, 5)]))
    assert back.updated_count == 1
    gone.refresh_from_db()
    attachment.refresh_from_db()
    assert gone.is_active and not attachment.needs_review
    assert AuditEvent.objects.filter(action="referential.reactivated", pharmacy=pharmacy).count() == 1


def test_a_file_missing_most_entries_deactivates_nothing_unless_allowed(tmp_path):
    run_import(RPPS, write(tmp_path, [doctor(n) for n in range(1, 5)]))
    run = run_import(RPPS, write(tmp_path, [doctor(1)]))
    assert run.status == ReferentialImport.Status.SUCCEEDED
    assert run.deactivated_count == 0
    assert "le fichier est sans doute incomplet" in run.details["avertissements"][0]
    assert Professional.objects.filter(is_active=True).count() == 4

    forced = run_import(RPPS, write(tmp_path, [doctor(1)]), allow_mass_deactivation=True)
    assert forced.deactivated_count == 3


def test_columns_are_read_by_header_name_whatever_their_order(tmp_path):
    order = list(range(len(RPPS_HEADER_NAMES)))
    order.reverse()

    def reorder(line: str) -> str:
        fields = line.split("|")[: len(RPPS_HEADER_NAMES)]
        return "|".join(fields[i] for i in order) + "|"

    path = tmp_path / "reordered.txt"
    lines = [reorder(RPPS_HEADER), reorder(doctor(1, city="LYON")), reorder(doctor(2))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_import(RPPS, path)
    assert (run.created_count, run.rejected_count) == (2, 0)
    assert Professional.objects.get(rpps=rpps(1)).city == "LYON"


def test_a_file_without_the_required_columns_fails_and_writes_nothing(tmp_path):
    path = tmp_path / "wrong.txt"
    path.write_text("Nom|Prénom|\nDUPONT|Jean|\n", encoding="utf-8")
    run = run_import(RPPS, path)
    assert run.status == ReferentialImport.Status.FAILED
    assert "Colonnes absentes de l'en-tête" in run.error_message
    assert "« Identifiant PP »" in run.error_message
    assert not Professional.objects.exists()


def test_an_authority_gone_from_the_file_is_revoked_and_a_manual_one_is_kept(tmp_path):
    officine = factories.PharmacyFactory()
    pharmacist = {"profession": "21", "finess_site": officine.finess, "section": "A", "role": "FON-03"}
    run_import(
        RPPS, write(tmp_path, [doctor(1), rpps_line(rpps=rpps(2), last_name="ROUX", first_name="A", **pharmacist)])
    )
    manual = factories.AuthorityFactory(pharmacy=officine, source=PharmacistAuthority.Source.MANUAL)
    granted = PharmacistAuthority.objects.get(rpps=rpps(2))

    # The pharmacist becomes an adjoint: the line no longer gives an authority.
    adjoint = {**pharmacist, "section": "D", "role": "FON-05"}
    run = run_import(
        RPPS, write(tmp_path, [doctor(1), rpps_line(rpps=rpps(2), last_name="ROUX", first_name="A", **adjoint)])
    )

    granted.refresh_from_db()
    manual.refresh_from_db()
    assert granted.is_active is False and manual.is_active is True
    assert run.details["habilitations"]["désactivées"] == 1
    assert AuditEvent.objects.get(action="authority.revoked").pharmacy == officine


def test_the_zip_published_by_the_ans_is_read_from_its_personne_activite_member(tmp_path):
    archive = tmp_path / "PS_LibreAcces_202611220000.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("PS_LibreAcces_Dipl_AutExerc_202611220000.txt", "autre|fichier|\n")
        zipped.writestr("PS_LibreAcces_Personne_activite_202611220000.txt", RPPS_SAMPLE.read_bytes())
    run = run_import(RPPS, archive)
    assert (run.status, run.created_count, run.rejected_count) == (ReferentialImport.Status.SUCCEEDED, 11, 4)


def test_a_second_import_of_a_kind_cannot_run_while_one_is_running(db):
    from effectors.referential.runner import referential_import_create, referential_import_run

    running = referential_import_create(kind=RPPS, actor=Actor.system())
    ReferentialImport.objects.filter(pk=running.pk).update(status=ReferentialImport.Status.RUNNING)
    second = referential_import_create(kind=RPPS, actor=Actor.system())
    result = referential_import_run(import_id=second.pk, path=RPPS_SAMPLE)
    assert result.status == ReferentialImport.Status.FAILED
    assert "déjà en cours" in result.error_message
    # A FINESS import is not blocked by a running RPPS one.
    assert run_import(ReferentialImport.Kind.FINESS, FINESS_SAMPLE).status == ReferentialImport.Status.SUCCEEDED


def test_a_run_already_claimed_is_not_run_twice(db):
    from effectors.referential.runner import referential_import_create, referential_import_run

    run = referential_import_create(kind=RPPS, actor=Actor.system())
    first = referential_import_run(import_id=run.pk, path=RPPS_SAMPLE)
    second = referential_import_run(import_id=run.pk, path=RPPS_SAMPLE)
    assert first.status == second.status == ReferentialImport.Status.SUCCEEDED
    assert AuditEvent.objects.filter(action="referential.import").count() == 1


def test_more_rejected_lines_than_kept_are_all_counted(tmp_path, monkeypatch):
    monkeypatch.setattr("effectors.referential.common.MAX_STORED_REJECTIONS", 3)
    run = run_import(RPPS, write(tmp_path, ["x|y"] * 5 + [doctor(1)]))
    assert (run.rejected_count, run.rejections.count(), run.created_count) == (5, 3, 1)


@pytest.mark.postgres
def test_the_orm_path_finds_nothing_to_change_after_the_copy_path():
    """Both merges agree: after the PostgreSQL path wrote the sample, the ORM path sees every row unchanged."""
    run_import(ReferentialImport.Kind.FINESS, FINESS_SAMPLE)
    copy_run = run_import(RPPS, RPPS_SAMPLE)
    orm_run = run_import(RPPS, RPPS_SAMPLE, force_orm=True)
    assert copy_run.details["méthode"].startswith("COPY")
    assert orm_run.details["méthode"].startswith("ORM")
    assert (orm_run.created_count, orm_run.updated_count, orm_run.unchanged_count) == (0, 0, 11)


def test_attachments_are_not_touched_by_a_reimport(referential):
    pharmacy = factories.PharmacyFactory()
    attachment = attachment_attach(pharmacy=pharmacy, identifier=rpps(1), actor=Actor.system())
    run_import(RPPS, RPPS_SAMPLE)
    attachment.refresh_from_db()
    assert attachment.detached_at is None and not attachment.needs_review
    assert Attachment.objects.filter(pharmacy=pharmacy).count() == 1
