"""The world of the authorization matrix: two officines in two regions, objects of each kind that a URL can
name, and one account per role.

Officine A is in region X (Île-de-France, 11); officine B in region Y (Auvergne-Rhône-Alpes, 84). Every object
a URL names belongs to A (or to region X), so that B and the agent of region Y asking for it show what a
foreign user gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from accounts.models import Pharmacy, Region, User
from accounts.roles import ROLE_ARS, ROLE_LOGISTICS, ROLE_SUPPORT_1, ROLE_SUPPORT_2
from effectors.models import Attachment, TransferRequest
from fulfilment.reports.models import DailyReport
from sessions_calendar.models import OrderSession
from tests import factories
from tests.psc import login_agent
from vaccine_orders.identifiers import make_finess
from vaccine_orders.orders.models import Order, OrderLine
from vaccine_orders.portal.models import HelpDocument, SupportRequest

ANON = "anonyme"
PHARMACY_A = "officine A"
PHARMACY_B = "officine B"
ARS_X = "ARS région X"
ARS_Y = "ARS région Y"
SUPPORT_1 = "support niveau 1"
SUPPORT_2 = "support niveau 2"
LOGISTICS = "logistique"
SUPERUSER = "superutilisateur"

ROLES = (ANON, PHARMACY_A, PHARMACY_B, ARS_X, ARS_Y, SUPPORT_1, SUPPORT_2, LOGISTICS, SUPERUSER)
PHARMACIES = (PHARMACY_A, PHARMACY_B)
ARS = (ARS_X, ARS_Y)
STAFF = (SUPPORT_1, SUPPORT_2, LOGISTICS, SUPERUSER)
AGENTS = (*ARS, *STAFF)

REGION_X = "11"
REGION_Y = "84"


@dataclass
class World:
    region_x: Region
    region_y: Region
    pharmacy_a: Pharmacy
    pharmacy_b: Pharmacy
    pharmacy_c: Pharmacy
    users: dict[str, User | None]
    open_session: OrderSession
    published_session: OrderSession
    order_a: Order  # registered, in the open session
    order_b: Order
    past_order_a: Order  # registered, in a session whose confirmations are published
    attachment_a: Attachment  # a doctor attached to A, with a contact e-mail
    transfer_to_a: TransferRequest  # C asks for an effector of A: A answers
    transfer_from_a: TransferRequest  # A asks for an effector of C: A may cancel
    support_request_a: SupportRequest
    help_document: HelpDocument
    daily_report_x: DailyReport
    unsubscribe_token_a: str
    logistics_without_totp: User  # a logistics agent who never enrolled a second factor

    def client(self, role: str) -> Client:
        """A fresh client logged in as `role`: officines directly, agents with their TOTP second factor."""
        client = Client()
        user = self.users[role]
        if user is None:
            return client
        if user.pharmacy_id:
            client.force_login(user)
            return client
        return login_agent(client, user)


def _agent(username: str, *, group: str | None = None, region: Region | None = None, **extra) -> User:
    user = User.objects.create_user(
        username=username,
        email=f"{username}@example.org",
        password="mot-de-passe-de-test-assez-long",
        first_name="Agent",
        last_name=username.upper(),
        region=region,
        is_staff=region is None,
        **extra,
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def _pharmacy(department: str, number: int, name: str) -> Pharmacy:
    return factories.PharmacyFactory(
        finess=make_finess(f"{department}{number:06d}"),
        name=name,
        department=factories.department(department),
        city="Paris" if department == "75" else "Lyon",
        postal_code=f"{department}001",
    )


def build_world(*, demo_titulaire: bool = False) -> World:
    """`demo_titulaire`: officine A is the demo PSC's (its FINESS, its titulaire), for the browser tests that log in
    through Pro Santé Connect."""
    from fulfilment.reports.services import daily_report_generate
    from sessions_calendar.services import reminder_unsubscribe_token
    from tests.orders.conftest import build_session
    from vaccine_orders.demo import DEMO_PHARMACY_FINESS, DEMO_TITULAIRE_RPPS

    region_x, region_y = factories.region(REGION_X), factories.region(REGION_Y)
    pharmacy_a = _pharmacy("75", 901, "Pharmacie Alpha du Marché")
    if demo_titulaire:
        pharmacy_a.finess = DEMO_PHARMACY_FINESS
        pharmacy_a.save(update_fields=["finess"])
        factories.AuthorityFactory(
            pharmacy=pharmacy_a, rpps=DEMO_TITULAIRE_RPPS, first_name="Claire", last_name="MARTIN"
        )
    pharmacy_b = _pharmacy("69", 902, "Pharmacie Bêta des Pentes")
    pharmacy_c = _pharmacy("69", 903, "Pharmacie Gamma des Quais")
    users: dict[str, User | None] = {
        ANON: None,
        PHARMACY_A: factories.PharmacyUserFactory(pharmacy=pharmacy_a),
        PHARMACY_B: factories.PharmacyUserFactory(pharmacy=pharmacy_b),
        ARS_X: _agent("ars-x", group=ROLE_ARS, region=region_x),
        ARS_Y: _agent("ars-y", group=ROLE_ARS, region=region_y),
        SUPPORT_1: _agent("support1", group=ROLE_SUPPORT_1),
        SUPPORT_2: _agent("support2", group=ROLE_SUPPORT_2),
        LOGISTICS: _agent("logistique", group=ROLE_LOGISTICS),
        SUPERUSER: _agent("superutilisateur", is_superuser=True),
    }

    # The open session, with the grid of the ordering tests, and a registered order of A and of B in it.
    setup = build_session(pharmacy_a)
    open_session = setup.session
    order_a = factories.OrderFactory(pharmacy=pharmacy_a, session=open_session)
    OrderLine.objects.create(order=order_a, effector=setup.doctor, product=setup.janssen, quantity_requested=3)
    setup_b_doctor = factories.attached_effector(pharmacy_b, "doctor")
    order_b = factories.OrderFactory(pharmacy=pharmacy_b, session=open_session)
    OrderLine.objects.create(order=order_b, effector=setup_b_doctor, product=setup.janssen, quantity_requested=2)

    # A past session whose confirmations are published: "Suivi de commande" and the PDF summary.
    now = timezone.now()
    published_session = factories.OrderSessionFactory(
        opens_at=now - timedelta(days=9),
        closes_at=now - timedelta(days=8),
        confirmation_published_at=now - timedelta(days=7),
    )
    past_order_a = factories.OrderFactory(pharmacy=pharmacy_a, session=published_session)
    OrderLine.objects.create(
        order=past_order_a,
        effector=setup.doctor,
        product=setup.janssen,
        quantity_requested=4,
        quantity_confirmed=4,
    )

    attachment_a = setup.doctor.attachments.get(detached_at__isnull=True)
    setup.doctor.professional.email = "docteur.alpha@example.org"
    setup.doctor.professional.save()
    effector_of_c = factories.attached_effector(pharmacy_c, "doctor")
    transfer_to_a = TransferRequest.objects.create(
        effector=setup.doctor2, from_pharmacy=pharmacy_a, to_pharmacy=pharmacy_c
    )
    transfer_from_a = TransferRequest.objects.create(
        effector=effector_of_c, from_pharmacy=pharmacy_c, to_pharmacy=pharmacy_a
    )

    support_request_a = factories.SupportRequestFactory(
        pharmacy=pharmacy_a, user=users[PHARMACY_A], finess=pharmacy_a.finess, email=pharmacy_a.email
    )
    help_document = HelpDocument(title="Guide de la saisie", is_published=True)
    help_document.file.save("guide.pdf", ContentFile(b"%PDF-1.4\n%%EOF\n"), save=False)
    help_document.save()

    daily_report_x, _ = daily_report_generate(
        day=timezone.localdate() - timedelta(days=1), region=region_x, at=timezone.now()
    )
    return World(
        region_x=region_x,
        region_y=region_y,
        pharmacy_a=pharmacy_a,
        pharmacy_b=pharmacy_b,
        pharmacy_c=pharmacy_c,
        users=users,
        open_session=open_session,
        published_session=published_session,
        order_a=order_a,
        order_b=order_b,
        past_order_a=past_order_a,
        attachment_a=attachment_a,
        transfer_to_a=transfer_to_a,
        transfer_from_a=transfer_from_a,
        support_request_a=support_request_a,
        help_document=help_document,
        daily_report_x=daily_report_x,
        unsubscribe_token_a=reminder_unsubscribe_token(pharmacy=pharmacy_a),
        logistics_without_totp=_agent("logistique-sans-totp", group=ROLE_LOGISTICS),
    )
