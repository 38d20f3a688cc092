"""Pilot groups: import by a FINESS list (unknown and invalid numbers reported), sessions and the whole
service restricted to a group."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from sessions_calendar.selectors import pharmacy_may_order_in_session, pharmacy_may_use_service
from sessions_calendar.services import parse_finess_list, pilot_group_import_finess, service_restrict_to_pilot
from tests import factories
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.identifiers import make_finess
from vaccine_orders.portal.models import ServiceSettings

from .helpers import open_session_now

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("Test")
UNKNOWN = make_finess("13" + "099999")


def test_the_list_parser_accepts_what_people_paste():
    known = make_finess("75" + "000011")
    corsica = make_finess("2A" + "000012")
    raw = f"FINESS;Nom\n{known};Pharmacie du Marché\n{corsica.lower()}\n{known}, 123456789, 75ABC\n"
    valid, invalid, duplicates = parse_finess_list(raw)
    assert valid == [known, corsica]
    assert invalid == ["123456789", "75ABC"]
    assert duplicates == 1


def test_importing_adds_known_officines_and_reports_the_others():
    group = factories.PilotGroupFactory()
    member = factories.PharmacyFactory()
    group.pharmacies.add(member)
    newcomer = factories.PharmacyFactory()
    report = pilot_group_import_finess(
        group=group, raw=f"{member.finess}\n{newcomer.finess}\n{UNKNOWN}\n750000000\n", actor=ACTOR
    )
    assert report.added == [newcomer]
    assert report.already == [member]
    assert report.unknown == [UNKNOWN]
    assert report.invalid == ["750000000"]
    assert set(group.pharmacies.all()) == {member, newcomer}
    event = AuditEvent.objects.get(action="pilot_group.import")
    assert event.after == {"added": [newcomer.finess], "removed": [], "unknown": [UNKNOWN], "invalid": ["750000000"]}


def test_replacing_the_composition_removes_the_officines_not_listed():
    group = factories.PilotGroupFactory()
    leaving, staying = factories.PharmacyFactory(), factories.PharmacyFactory()
    group.pharmacies.add(leaving, staying)
    report = pilot_group_import_finess(group=group, raw=staying.finess, actor=ACTOR, replace=True)
    assert report.removed == [leaving]
    assert list(group.pharmacies.all()) == [staying]


def test_the_admin_import_accepts_a_pasted_list_and_a_file(admin_client):
    group = factories.PilotGroupFactory(name="Pilotes 2022")
    pasted, uploaded = factories.PharmacyFactory(), factories.PharmacyFactory()
    url = reverse("admin:sessions_calendar_pilotgroup_import", args=[group.pk])
    assert admin_client.get(url).status_code == 200
    upload = SimpleUploadedFile("pilotes.csv", f"finess\n{uploaded.finess}\n{UNKNOWN}\n".encode("cp1252"))
    response = admin_client.post(url, {"finess_list": f"{pasted.finess}\nABC123", "upload": upload})
    assert response.status_code == 200
    soup = BeautifulSoup(response.content, "html.parser")
    report = soup.select_one("#rapport").get_text(" ", strip=True)
    assert "2 officines ajoutées" in report
    assert UNKNOWN in report and "ABC123" in report
    assert "FINESS valides mais inconnus du référentiel des officines (1)" in report
    assert set(group.pharmacies.all()) == {pasted, uploaded}


def test_the_admin_import_refuses_an_empty_submission(admin_client):
    group = factories.PilotGroupFactory()
    response = admin_client.post(reverse("admin:sessions_calendar_pilotgroup_import", args=[group.pk]), {})
    assert (
        "Collez une liste de numéros FINESS ou choisissez un fichier."
        in BeautifulSoup(response.content, "html.parser").get_text()
    )


def test_the_pilot_group_changelist_links_to_the_import(admin_client):
    group = factories.PilotGroupFactory()
    response = admin_client.get(reverse("admin:sessions_calendar_pilotgroup_changelist"))
    assert reverse("admin:sessions_calendar_pilotgroup_import", args=[group.pk]) in response.content.decode()


def test_a_pilot_session_is_open_to_its_group_only(pharmacy_a, pharmacy_b):
    group = factories.PilotGroupFactory()
    group.pharmacies.add(pharmacy_a)
    session = open_session_now(pilot_group=group)
    assert pharmacy_may_order_in_session(pharmacy=pharmacy_a, session=session)
    assert not pharmacy_may_order_in_session(pharmacy=pharmacy_b, session=session)
    session.pilot_group = None
    assert pharmacy_may_order_in_session(pharmacy=pharmacy_b, session=session)


def test_restricting_the_whole_service_is_the_one_rule_every_page_applies(admin_client, pharmacy_a, client_b):
    group = factories.PilotGroupFactory()
    group.pharmacies.add(pharmacy_a)
    changelist = reverse("admin:sessions_calendar_pilotgroup_changelist")
    admin_client.post(changelist, {"action": "restrict_service", "_selected_action": [group.pk]})
    assert ServiceSettings.objects.get(pk=1).pilot_group == group
    assert pharmacy_may_use_service(pharmacy=pharmacy_a)
    assert not pharmacy_may_use_service(pharmacy=factories.PharmacyFactory())
    # An officine outside the group is turned away by pharmacy_required, which asks the same rule.
    assert client_b.get(reverse("sessions_calendar:reminders")).status_code == 403
    session = open_session_now()
    assert not pharmacy_may_order_in_session(pharmacy=client_b_pharmacy(client_b), session=session)
    assert AuditEvent.objects.filter(action="service.pilot_restriction").count() == 1

    admin_client.post(changelist, {"action": "open_service", "_selected_action": [group.pk]})
    assert ServiceSettings.objects.get(pk=1).pilot_group is None
    assert client_b.get(reverse("sessions_calendar:reminders")).status_code == 200


def client_b_pharmacy(client_b):
    from accounts.models import User

    return User.objects.get(pk=client_b.session["_auth_user_id"]).pharmacy


def test_restricting_twice_writes_one_audit_event(pharmacy_a):
    group = factories.PilotGroupFactory()
    service_restrict_to_pilot(group=group, actor=ACTOR)
    service_restrict_to_pilot(group=group, actor=ACTOR)
    assert AuditEvent.objects.filter(action="service.pilot_restriction").count() == 1
