"""Realistic demo data for `make run`: regions, officines and their titulaires, every effector type,
the products of the DGS-Urgent notes, the summer 2023 calendar (seed 004), recent sessions with orders,
and an open session with the cap table of seed 003 (AstraZeneca per rank, Janssen, Moderna for
occupational doctors within a national stock).

Idempotent: every row is found by a natural key (FINESS, RPPS, product code, session opening) and a
second run changes nothing. Random choices use a fixed seed.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Department, PharmacistAuthority, Pharmacy, User
from effectors.models import Attachment, Effector, EffectorType, Establishment, Professional, TransferRequest
from sessions_calendar.models import CapRule, OrderSession, PilotGroup, ProductOffer
from vaccine_orders.identifiers import make_finess, make_rpps
from vaccine_orders.orders.models import Order, OrderLine, Product
from vaccine_orders.portal.models import NewsItem, ServiceSettings

PARIS = ZoneInfo("Europe/Paris")

# The officine that the demo PSC identities (titulaire, co-titulaire, adjoint) belong to.
DEMO_PHARMACY_FINESS = make_finess("75000001")
DEMO_TITULAIRE_RPPS = make_rpps("1000000001")
DEMO_COTITULAIRE_RPPS = make_rpps("1000000002")
DEMO_ADJOINT_RPPS = make_rpps("1000000003")
DEMO_DOCTOR_RPPS = make_rpps("1000000004")
# The demo agents' password (development only; they also type the demo TOTP code of settings/local.py).
DEMO_AGENT_PASSWORD = "agent-demo"  # noqa: S105

CITIES = [
    ("75", "Paris", "75011"),
    ("75", "Paris", "75018"),
    ("92", "Nanterre", "92000"),
    ("93", "Saint-Denis", "93200"),
    ("69", "Lyon", "69003"),
    ("69", "Villeurbanne", "69100"),
    ("38", "Grenoble", "38000"),
    ("13", "Marseille", "13005"),
    ("06", "Nice", "06000"),
    ("31", "Toulouse", "31000"),
    ("34", "Montpellier", "34000"),
    ("59", "Lille", "59000"),
    ("62", "Arras", "62000"),
    ("33", "Bordeaux", "33000"),
    ("2A", "Ajaccio", "20000"),
    ("974", "Saint-Denis", "97400"),
]
PHARMACY_NAMES = [
    "Pharmacie du Marché",
    "Pharmacie de la Gare",
    "Pharmacie Centrale",
    "Pharmacie des Halles",
    "Pharmacie du Parc",
    "Pharmacie de la Mairie",
    "Pharmacie du Théâtre",
    "Pharmacie de l'Église",
    "Pharmacie des Écoles",
    "Pharmacie du Port",
    "Pharmacie de la Poste",
    "Pharmacie du Lycée",
]
STREETS = [
    "place du Marché",
    "rue de la République",
    "avenue Jean-Jaurès",
    "rue Victor-Hugo",
    "boulevard Pasteur",
    "rue Nationale",
    "place de la Mairie",
    "rue des Écoles",
]
LAST_NAMES = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
]
FIRST_NAMES = [
    "Claire",
    "Julien",
    "Sophie",
    "Nicolas",
    "Camille",
    "Thomas",
    "Marie",
    "Antoine",
    "Julie",
    "Pierre",
    "Laura",
    "Hugo",
    "Emma",
    "Louis",
    "Léa",
    "Paul",
    "Chloé",
    "Lucas",
    "Manon",
    "Jean",
]

# Products of the DGS-Urgent notes. code: (name, short, kind, unit, per box, doses/vial, rank, storage)
PRODUCTS = {
    "moderna": (
        "Moderna (Spikevax)",
        "Moderna",
        "vaccine",
        "vial",
        10,
        10,
        False,
        "Flacons à conserver 30 jours maximum entre 2 et 8 °C, à l'abri de la lumière.",
    ),
    "pfizer-adulte": (
        "Pfizer-BioNTech – forme 12 ans et plus (couvercle violet)",
        "Pfizer adulte",
        "vaccine",
        "vial",
        10,
        6,
        False,
        "Flacons à conserver un mois maximum entre 2 et 8 °C, à l'abri de la lumière.",
    ),
    "pfizer-pediatrique": (
        "Pfizer-BioNTech – forme pédiatrique 5-11 ans (couvercle orange)",
        "Pfizer pédiatrique",
        "vaccine",
        "vial",
        10,
        10,
        False,
        "Flacons à conserver 10 semaines maximum entre 2 et 8 °C, à l'abri de la lumière.",
    ),
    "novavax": (
        "Novavax (Nuvaxovid)",
        "Novavax",
        "vaccine",
        "vial",
        10,
        10,
        False,
        "Flacons à conserver entre 2 et 8 °C, à l'abri de la lumière ; 6 heures après ouverture.",
    ),
    "janssen": (
        "Janssen (COVID-19 Vaccine Janssen)",
        "Janssen",
        "vaccine",
        "vial",
        10,
        5,
        False,
        "Flacons à conserver 3 mois maximum entre 2 et 8 °C, à l'abri de la lumière.",
    ),
    "astrazeneca": (
        "AstraZeneca (Vaxzevria)",
        "AstraZeneca",
        "vaccine",
        "vial",
        10,
        10,
        True,
        "Flacons à conserver entre 2 et 8 °C, à l'abri de la lumière ; 48 heures après ouverture.",
    ),
    "seringues-aiguilles": (
        "Seringues 1 ml avec aiguille – boîte de 100",
        "Seringues + aiguilles",
        "medical_device",
        "box",
        100,
        None,
        False,
        "Conserver à l'abri de l'humidité.",
    ),
    "aiguilles": (
        "Aiguilles 25G – boîte de 100",
        "Aiguilles",
        "medical_device",
        "box",
        100,
        None,
        False,
        "Conserver à l'abri de l'humidité.",
    ),
}

# Summer 2023 calendar of seed 004: Monday of the session week, open?, indicative delivery (start, end).
SUMMER_2023 = [
    (date(2023, 7, 17), True, (date(2023, 7, 27), date(2023, 7, 28))),
    (date(2023, 7, 24), True, (date(2023, 8, 3), date(2023, 8, 4))),
    (date(2023, 7, 31), False, None),
    (date(2023, 8, 7), True, (date(2023, 8, 17), date(2023, 8, 18))),
    (date(2023, 8, 14), False, None),
    (date(2023, 8, 21), True, (date(2023, 8, 31), date(2023, 9, 1))),
    (date(2023, 8, 28), False, None),
    (date(2023, 9, 4), True, (date(2023, 9, 14), date(2023, 9, 15))),
    (date(2023, 9, 11), False, None),
    (date(2023, 9, 18), True, (date(2023, 9, 28), date(2023, 9, 29))),
    (date(2023, 9, 25), False, None),
    (date(2023, 10, 2), True, (date(2023, 10, 12), date(2023, 10, 13))),
    (date(2023, 10, 9), True, (date(2023, 10, 19), date(2023, 10, 20))),
]


def paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


def catalogue_get_or_create(*, on_each: Callable[[bool], None] | None = None) -> dict[str, Product]:
    """The products of the DGS-Urgent notes (PRODUCTS), created when missing; `on_each(created)` per product."""
    products = {}
    for order, (code, (name, short, kind, unit, per_box, doses, rank, storage)) in enumerate(PRODUCTS.items()):
        products[code], created = Product.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "short_name": short,
                "kind": kind,
                "unit": unit,
                "units_per_box": per_box,
                "doses_per_vial": doses,
                "has_injection_rank": rank,
                "storage_rule": storage,
                "sort_order": (order + 1) * 10,
            },
        )
        if on_each is not None:
            on_each(created)
    return products


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, created: bool) -> None:
        if created:
            self.created[name] = self.created.get(name, 0) + 1


class DemoSeeder:
    def __init__(self, *, now: datetime | None = None) -> None:
        self.now = now or timezone.now()
        self.rng = random.Random(2022)  # noqa: S311 - demo data, not security
        self.report = SeedReport()
        self.types = {t.code: t for t in EffectorType.objects.all()}
        self.departments = {d.code: d for d in Department.objects.all()}

    # --- entry point -------------------------------------------------------------------------

    @transaction.atomic
    def run(self) -> SeedReport:
        self.products = self.seed_products()
        pharmacies = self.seed_pharmacies()
        self.seed_effectors(pharmacies)
        self.seed_effector_transfers(pharmacies)
        self.seed_pilot_group(pharmacies)
        self.seed_summer_2023()
        past, current = self.seed_recent_sessions()
        for session in past:
            self.seed_orders(session, pharmacies, confirmed=True)
        self.seed_orders(current, pharmacies[5:20], confirmed=False)
        self.seed_fulfilment(past)
        self.seed_daily_reports()
        self.seed_news()
        self.seed_support_requests(pharmacies, current)
        ServiceSettings.load()
        if settings.DEBUG:
            self.seed_admin()
            self.seed_agents()
        return self.report

    # --- catalogue ------------------------------------------------------------------------

    def seed_products(self) -> dict[str, Product]:
        return catalogue_get_or_create(on_each=lambda created: self.report.count("produits", created))

    # --- officines ----------------------------------------------------------------------------

    def seed_pharmacies(self) -> list[Pharmacy]:
        pharmacies = []
        for index in range(60):
            dept_code, city, postal_code = CITIES[index % len(CITIES)]
            serial = f"{index + 1:05d}"
            if dept_code == "974":
                payload = "9704" + f"{index + 1:04d}"
            elif dept_code == "2A":
                payload = "2A0" + serial
            else:
                payload = dept_code + "0" + serial
            finess = DEMO_PHARMACY_FINESS if index == 0 else make_finess(payload)
            name = PHARMACY_NAMES[index % len(PHARMACY_NAMES)]
            pharmacy, created = Pharmacy.objects.get_or_create(
                finess=finess,
                defaults={
                    "name": f"{name} ({city})" if index else "Pharmacie du Marché",
                    "address": f"{self.rng.randint(1, 120)} {self.rng.choice(STREETS)}",
                    "postal_code": postal_code,
                    "city": city,
                    "department": self.departments[dept_code],
                    "phone": f"01 {self.rng.randint(10, 99)} {self.rng.randint(10, 99)} {self.rng.randint(10, 99)} "
                    f"{self.rng.randint(10, 99)}",
                    "email": f"officine-{finess.lower()}@demo.commande-vaccins.example" if index % 3 else "",
                    "email_verified_at": self.now if index % 3 else None,
                },
            )
            self.report.count("officines", created)
            pharmacies.append(pharmacy)
            self.seed_authorities(index, pharmacy)
        return pharmacies

    def seed_authorities(self, index: int, pharmacy: Pharmacy) -> None:
        people = [(make_rpps(f"2{index + 1:09d}"), PharmacistAuthority.Role.TITULAIRE)]
        if index == 0:
            people = [
                (DEMO_TITULAIRE_RPPS, PharmacistAuthority.Role.TITULAIRE),
                (DEMO_COTITULAIRE_RPPS, PharmacistAuthority.Role.TITULAIRE),
            ]
        elif index == 7:
            people = [(make_rpps(f"2{index + 1:09d}"), PharmacistAuthority.Role.GERANT_APRES_DECES)]
        elif index == 8:
            people = [(make_rpps(f"2{index + 1:09d}"), PharmacistAuthority.Role.GERANT_MINIERE_MUTUALISTE)]
        for offset, (rpps, role) in enumerate(people):
            _, created = PharmacistAuthority.objects.get_or_create(
                rpps=rpps,
                pharmacy=pharmacy,
                defaults={
                    "role": role,
                    "last_name": LAST_NAMES[(index + offset) % len(LAST_NAMES)].upper(),
                    "first_name": FIRST_NAMES[(index * 3 + offset) % len(FIRST_NAMES)],
                },
            )
            self.report.count("habilitations", created)

    # --- effectors ----------------------------------------------------------------------------

    def _professional(self, rpps: str, type_code: str, index: int, dept: Department, email: bool) -> Professional:
        effector_type = self.types[type_code]
        professional, created = Professional.objects.get_or_create(
            rpps=rpps,
            defaults={
                "profession_code": effector_type.rpps_profession_code,
                "profession_label": effector_type.label.split(" (")[0],
                "specialty_code": (effector_type.rpps_specialty_codes or [""])[0],
                "last_name": LAST_NAMES[index % len(LAST_NAMES)].upper(),
                "first_name": FIRST_NAMES[(index * 7) % len(FIRST_NAMES)],
                "department": dept,
                "email": f"{type_code}.{rpps}@demo.commande-vaccins.example" if email else "",
            },
        )
        self.report.count("professionnels", created)
        return professional

    def _attach(self, effector: Effector, pharmacy: Pharmacy, source: str = Attachment.Source.MIGRATION) -> None:
        if effector.attachments.filter(detached_at__isnull=True).exists():
            return
        Attachment.objects.create(
            effector=effector, pharmacy=pharmacy, source=source, attached_at=self.now - timedelta(days=400)
        )
        self.report.count("rattachements", True)

    def seed_effectors(self, pharmacies: list[Pharmacy]) -> None:
        establishment_types = [code for code, t in self.types.items() if t.kind == EffectorType.Kind.ESTABLISHMENT]
        counter = 0
        for index, pharmacy in enumerate(pharmacies):
            # The officine's own line and the nurses' total line.
            for code in ("pharmacist", "nurse"):
                effector, created = Effector.objects.get_or_create(pharmacy=pharmacy, type=self.types[code])
                self.report.count("effecteurs", created)
                self._attach(effector, pharmacy, Attachment.Source.SYSTEM)
            # Two to five professionals, one establishment for most officines.
            kinds = ["doctor", "doctor", "midwife", "dental_surgeon", "occupational_doctor"]
            for slot in range(2 + index % 4):
                counter += 1
                type_code = kinds[(index + slot) % len(kinds)]
                rpps = DEMO_DOCTOR_RPPS if (index, slot) == (0, 0) else make_rpps(f"3{counter:09d}")
                if (index, slot) == (0, 0):
                    type_code = "doctor"
                professional = self._professional(rpps, type_code, counter, pharmacy.department, email=slot % 2 == 0)
                effector, created = Effector.objects.get_or_create(
                    professional=professional, defaults={"type": self.types[type_code]}
                )
                self.report.count("effecteurs", created)
                self._attach(effector, pharmacy)
            if index % 4 != 3:
                type_code = establishment_types[index % len(establishment_types)]
                category = self.types[type_code].finess_categories[0]
                establishment, created = Establishment.objects.get_or_create(
                    finess=make_finess(f"{pharmacy.finess[:2]}1{index + 1:05d}"),
                    defaults={
                        "category_code": category,
                        "category_label": self.types[type_code].label,
                        "name": f"{self.types[type_code].label_plural} {pharmacy.city} {index + 1}",
                        "city": pharmacy.city,
                        "postal_code": pharmacy.postal_code,
                        "department": pharmacy.department,
                    },
                )
                self.report.count("établissements", created)
                effector, created = Effector.objects.get_or_create(
                    establishment=establishment, defaults={"type": self.types[type_code]}
                )
                self.report.count("effecteurs", created)
                self._attach(effector, pharmacy)
        # Professionals in the referential that no officine has attached yet, one of them inactive.
        for offset in range(10):
            professional = self._professional(
                make_rpps(f"4{offset + 1:09d}"),
                ["doctor", "midwife", "dental_surgeon"][offset % 3],
                500 + offset,
                self.departments["75"],
                email=False,
            )
            if offset == 9 and professional.is_active:
                professional.is_active = False
                professional.save(update_fields=["is_active"])

    def seed_effector_transfers(self, pharmacies: list[Pharmacy]) -> None:
        """Transfer requests to show in "Mes effecteurs": one received by the demo officine, and one left
        unanswered for more than 7 days, waiting for SpF support in the admin."""
        for holder, requester, age in ((pharmacies[0], pharmacies[1], 1), (pharmacies[2], pharmacies[3], 9)):
            attachment = (
                Attachment.objects.filter(
                    pharmacy=holder, detached_at__isnull=True, effector__professional__isnull=False
                )
                .exclude(effector__professional__rpps=DEMO_DOCTOR_RPPS)
                .order_by("pk")
                .first()
            )
            if attachment is None or TransferRequest.objects.filter(effector=attachment.effector).exists():
                continue
            TransferRequest.objects.create(
                effector=attachment.effector,
                from_pharmacy=holder,
                to_pharmacy=requester,
                created_at=self.now - timedelta(days=age),
            )
            self.report.count("demandes de transfert", True)

    def seed_pilot_group(self, pharmacies: list[Pharmacy]) -> None:
        group, created = PilotGroup.objects.get_or_create(
            name="Officines pilotes 2022",
            defaults={
                "description": "Une trentaine d'officines volontaires choisies avec les ARS (taille, "
                "fréquence de commande, répartition géographique)."
            },
        )
        self.report.count("groupes pilotes", created)
        group.pharmacies.add(*pharmacies[:30])

    # --- calendar ----------------------------------------------------------------------------

    def _session(
        self,
        monday: date,
        *,
        closed_week: bool = False,
        delivery: tuple[date, date] | None = None,
        opens_at: datetime | None = None,
        closes_at: datetime | None = None,
    ) -> OrderSession:
        opens_at = opens_at or paris(monday, 8)
        closes_at = closes_at or paris(monday + timedelta(days=1), 23)
        if delivery is None and not closed_week:
            delivery = (monday + timedelta(days=10), monday + timedelta(days=11))
        session, created = OrderSession.objects.get_or_create(
            opens_at=opens_at,
            defaults={
                "closes_at": closes_at,
                "confirmation_published_at": None
                if closed_week
                else max(paris(monday + timedelta(days=2), 18), closes_at),
                "delivery_start": delivery[0] if delivery else None,
                "delivery_end": delivery[1] if delivery else None,
                "is_closed_week": closed_week,
            },
        )
        self.report.count("sessions", created)
        return session

    def _offer(
        self,
        session: OrderSession,
        code: str,
        rules: dict[str, tuple],
        *,
        stock: int | None = None,
        box: int | None = None,
    ) -> ProductOffer:
        offer, created = ProductOffer.objects.get_or_create(
            session=session, product=self.products[code], defaults={"national_stock": stock, "box_size": box}
        )
        self.report.count("offres", created)
        for type_code, rule in rules.items():
            rank, mode, limit = rule if len(rule) == 3 else (0, *rule)
            _, created = CapRule.objects.get_or_create(
                offer=offer,
                effector_type=self.types[type_code],
                injection_rank=rank,
                defaults={"mode": mode, "limit": limit},
            )
            self.report.count("plafonds", created)
        return offer

    def _seed_2022_rules(self, session: OrderSession) -> None:
        """The table of seed 002 (DGS-Urgent 2022_36): Moderna and Pfizer adult unlimited for the
        professionals, Pfizer paediatric also for establishments and PMI, DM by the box."""
        unlimited = ("unlimited", None)
        professionals = dict.fromkeys(("pharmacist", "doctor", "nurse", "midwife", "dental_surgeon"), unlimited)
        establishments = dict.fromkeys(
            ("msp", "cds", "lbm", "fam", "mas", "ehpad", "usld", "residence_autonomie", "sst", "ssu"), unlimited
        )
        self._offer(session, "moderna", {**professionals, **establishments})
        self._offer(session, "pfizer-adulte", {**professionals, **establishments})
        self._offer(
            session,
            "pfizer-pediatrique",
            {
                "doctor": unlimited,
                "pharmacist": unlimited,
                "nurse": unlimited,
                "midwife": unlimited,
                "pmi": unlimited,
            },
        )
        self._offer(session, "seringues-aiguilles", {"pharmacist": unlimited})

    def seed_summer_2023(self) -> None:
        for monday, is_open, delivery in SUMMER_2023:
            session = self._session(monday, closed_week=not is_open, delivery=delivery)
            if is_open:
                self._seed_2022_rules(session)

    def seed_recent_sessions(self) -> tuple[list[OrderSession], OrderSession]:
        today = timezone.localtime(self.now, PARIS).date()
        this_monday = today - timedelta(days=today.weekday())
        past = []
        for weeks in (4, 3, 2, 1):
            session = self._session(this_monday - timedelta(weeks=weeks))
            self._seed_2022_rules(session)
            past.append(session)

        current = OrderSession.objects.filter(
            opens_at__lte=self.now, closes_at__gt=self.now, is_closed_week=False
        ).first()
        if current is None:
            # The demo needs a session open now, whatever the day `make run` happens on.
            opens_at = min(paris(this_monday, 8), self.now - timedelta(hours=1))
            closes_at = max(paris(this_monday + timedelta(days=1), 23), paris(today + timedelta(days=2), 23))
            current = self._session(
                this_monday,
                opens_at=opens_at,
                closes_at=closes_at,
                delivery=(today + timedelta(days=10), today + timedelta(days=11)),
            )
        self._seed_2021_rules(current)

        next_monday = this_monday + timedelta(weeks=1)
        while paris(next_monday, 8) <= current.closes_at:
            next_monday += timedelta(weeks=1)
        for weeks in range(3):
            monday = next_monday + timedelta(weeks=weeks)
            if (
                not OrderSession.objects.filter(
                    opens_at__lt=paris(monday + timedelta(days=1), 23), closes_at__gt=paris(monday, 8)
                )
                .exclude(opens_at=paris(monday, 8))
                .exists()
            ):
                session = self._session(monday)
                self._seed_2022_rules(session)
        return past, current

    def _seed_2021_rules(self, session: OrderSession) -> None:
        """The tables of seed 003 (DGS-Urgent 2021_60)."""
        az = self._offer(session, "astrazeneca", {})
        for type_code, rank, mode, limit in [
            ("doctor", 1, "per_effector", 5),
            ("doctor", 2, "per_effector", 5),
            ("pharmacist", 1, "per_pharmacy", 5),
            ("pharmacist", 2, "per_pharmacy", 5),
            ("nurse", 1, "per_effector", 10),
            ("nurse", 2, "closed", None),
            ("midwife", 1, "per_effector", 10),
            ("midwife", 2, "closed", None),
        ]:
            _, created = CapRule.objects.get_or_create(
                offer=az,
                effector_type=self.types[type_code],
                injection_rank=rank,
                defaults={"mode": mode, "limit": limit},
            )
            self.report.count("plafonds", created)
        per_professional = ("per_effector", 10)
        self._offer(
            session,
            "janssen",
            dict.fromkeys(("pharmacist", "doctor", "nurse", "midwife"), per_professional),
        )
        # Moderna: occupational doctors only, one box of 10 each, first come first served.
        self._offer(session, "moderna", {"occupational_doctor": ("per_effector", 10)}, stock=600, box=10)
        self._offer(session, "seringues-aiguilles", {"pharmacist": ("unlimited", None)})

    # --- orders ----------------------------------------------------------------------------

    def seed_orders(self, session: OrderSession, pharmacies: list[Pharmacy], *, confirmed: bool) -> None:
        offers = {
            o.product_id: o
            for o in session.offers.select_related("product").prefetch_related("cap_rules__effector_type")
        }
        for index, pharmacy in enumerate(pharmacies):
            if index % 5 == 4 or Order.objects.filter(pharmacy=pharmacy, session=session).exists():
                continue
            effectors = [
                a.effector
                for a in Attachment.objects.filter(pharmacy=pharmacy, detached_at__isnull=True).select_related(
                    "effector__type"
                )
            ]
            lines = []
            for offer in offers.values():
                for rule in offer.cap_rules.all():
                    if rule.mode == CapRule.Mode.CLOSED:
                        continue
                    for effector in effectors:
                        if effector.type_id != rule.effector_type_id or self.rng.random() < 0.4:
                            continue
                        quantity = self.rng.randint(1, rule.limit or 12)
                        if offer.box_size:
                            quantity = offer.box_size
                            remaining = offer.national_stock - offer.stock_taken
                            if remaining < quantity:
                                continue
                            offer.stock_taken += quantity
                        lines.append((effector, offer.product, rule.injection_rank, quantity))
            if not lines:
                continue
            validated_at = min(session.closes_at, session.opens_at + timedelta(hours=1 + index))
            order = Order.objects.create(
                reference=f"D{timezone.localtime(session.opens_at, PARIS):%y%m%d}-{secrets.token_hex(3).upper()}",
                pharmacy=pharmacy,
                session=session,
                validated_at=validated_at,
                created_by_label="Données de démonstration",
                updated_by_label="Données de démonstration",
                receipt_version=1,  # demonstration history: no receipt to send for it
            )
            self.report.count("commandes", True)
            seen = set()
            for effector, product, rank, quantity in lines:
                if (effector.pk, product.pk, rank) in seen:
                    continue
                seen.add((effector.pk, product.pk, rank))
                reduced = confirmed and self.rng.random() < 0.15 and quantity > 1
                OrderLine.objects.create(
                    order=order,
                    effector=effector,
                    product=product,
                    injection_rank=rank,
                    quantity_requested=quantity,
                    quantity_confirmed=(quantity - 1 if reduced else quantity) if confirmed else None,
                    reduction_reason="Stock insuffisant : quantités réparties au prorata." if reduced else "",
                )
        for offer in offers.values():
            if offer.national_stock is not None:
                # The stock counter must equal what the registered lines hold (the invariant of the service).
                taken = (
                    OrderLine.objects.filter(
                        order__session=session, order__status=Order.Status.REGISTERED, product=offer.product
                    ).aggregate(total=Sum("quantity_requested"))["total"]
                    or 0
                )
                ProductOffer.objects.filter(pk=offer.pk).update(stock_taken=taken)

    # --- fulfilment: delivery dates, deliveries, the Friday mailing's outbox -------------------

    def seed_fulfilment(self, past: list[OrderSession]) -> None:
        """Delivery dates for the past sessions (Corsica one day later), the oldest session delivered (a
        few lines partially), and the outbox of the last Friday mailing with one failure to resend."""
        from fulfilment.models import OutboxMessage, RegionalDeliveryDate, SessionFulfilment
        from fulfilment.selectors import publication_instant

        corsica = Department.objects.get(code="2A").region
        for session in past:
            fulfilment, created = SessionFulfilment.objects.get_or_create(
                session=session,
                defaults={"delivery_date": session.delivery_end, "published_at": publication_instant(session=session)},
            )
            self.report.count("suivis de session", created)
            if session.delivery_end:
                _, created = RegionalDeliveryDate.objects.get_or_create(
                    fulfilment=fulfilment,
                    region=corsica,
                    defaults={"delivery_date": session.delivery_end + timedelta(days=1)},
                )
                self.report.count("dates de livraison régionales", created)
        oldest = past[0]
        for index, line in enumerate(
            OrderLine.objects.filter(
                order__session=oldest, quantity_confirmed__gt=0, quantity_delivered__isnull=True
            ).order_by("pk")
        ):
            partial = index % 9 == 4 and line.quantity_confirmed > 1
            line.quantity_delivered = line.quantity_confirmed - 1 if partial else line.quantity_confirmed
            line.save(update_fields=["quantity_delivered"])
        last = past[-1]
        published = publication_instant(session=last)
        orders = Order.objects.filter(session=last, status=Order.Status.REGISTERED).select_related("pharmacy")
        for index, order in enumerate(orders):
            failed = index == 0
            _, created = OutboxMessage.objects.get_or_create(
                key=f"{last.pk}:pharmacy:{order.pharmacy_id}",
                defaults={
                    "session": last,
                    "kind": OutboxMessage.Kind.PHARMACY,
                    "pharmacy": order.pharmacy,
                    "email": order.pharmacy.email,
                    "status": OutboxMessage.Status.FAILED if failed else OutboxMessage.Status.SENT,
                    "attempts": 1,
                    "sent_at": None if failed else published,
                    "last_error": "SMTPRecipientsRefused: (550, b'Boîte aux lettres inconnue')" if failed else "",
                },
            )
            self.report.count("messages du publipostage", created)
        SessionFulfilment.objects.filter(session=last, mailing_prepared_at__isnull=True).update(
            mailing_prepared_at=published
        )

    # --- reports -----------------------------------------------------------------------------

    def seed_daily_reports(self) -> None:
        """The ARS daily reports of the last week for Île-de-France (the demo ARS agent's region), as the 06:30
        job would have stored them (fulfilment.reports)."""
        from accounts.models import Region
        from fulfilment.reports.services import daily_report_generate

        region = Region.objects.get(code="11")
        today = timezone.localtime(self.now).date()
        for days_ago in range(7, 0, -1):
            _, created = daily_report_generate(day=today - timedelta(days=days_ago), region=region, at=self.now)
            self.report.count("rapports quotidiens", created)

    # --- portal -----------------------------------------------------------------------------

    def seed_news(self) -> None:
        items = [
            (
                "Ouverture de la session de commande",
                "La session de commande est ouverte du lundi 8 h au mardi 23 h. Vérifiez les quantités demandées "
                "par les professionnels rattachés à votre officine avant de valider votre commande.",
                False,
            ),
            (
                "Moderna pour les médecins du travail : premier arrivé, premier servi",
                "Chaque médecin du travail peut commander une boîte de 10 flacons de vaccin Moderna via son officine "
                "de rattachement, dans la limite des doses disponibles. Aucun reliquat ne sera livré.",
                True,
            ),
        ]
        for title, body, urgent in items:
            _, created = NewsItem.objects.get_or_create(
                title=title,
                defaults={
                    "body": body,
                    "is_urgent": urgent,
                    "starts_at": self.now - timedelta(days=2),
                    "ends_at": self.now + timedelta(days=30),
                },
            )
            self.report.count("actualités", created)

    def seed_support_requests(self, pharmacies: list[Pharmacy], current: OrderSession) -> None:
        """A support queue to look at: new, late, escalated and answered requests, anonymous or not."""
        from vaccine_orders.portal.models import SupportMessage, SupportRequest
        from vaccine_orders.portal.opening_hours import support_due_at

        with_order = next(
            (p for p in pharmacies[5:20] if Order.objects.filter(pharmacy=p, session=current).exists()), pharmacies[5]
        )
        order = Order.objects.filter(pharmacy=with_order, session=current).first()
        requests = [
            # reference, pharmacy, reason, message, status, hours ago, reply
            (
                "SUP-DEMO0001",
                None,
                "connexion_psc",
                "Impossible de me connecter avec ma carte CPS depuis ce matin : la page reste blanche.",
                SupportRequest.Status.NEW,
                30,
                "",
            ),
            (
                "SUP-DEMO0002",
                with_order,
                "question_commande",
                "Je ne retrouve pas la ligne Moderna du docteur Martin dans ma commande.",
                SupportRequest.Status.IN_PROGRESS,
                1,
                "",
            ),
            (
                "SUP-DEMO0003",
                pharmacies[1],
                "effecteur_autre_officine",
                "Le centre de santé que je veux rattacher est déjà rattaché à une autre officine.",
                SupportRequest.Status.ESCALATED,
                5,
                "",
            ),
            (
                "SUP-DEMO0004",
                pharmacies[2],
                "delais",
                "Quand serai-je livré de la commande de lundi ?",
                SupportRequest.Status.ANSWERED,
                26,
                "Les vaccins commandés cette semaine arrivent en officine entre jeudi et vendredi de la semaine "
                "prochaine. Le détail est dans « Suivi de commande » dès mercredi 18 h.",
            ),
        ]
        for reference, pharmacy, reason, message, status, hours_ago, reply in requests:
            created_at = self.now - timedelta(hours=hours_ago)
            support_request, created = SupportRequest.objects.get_or_create(
                reference=reference,
                defaults={
                    "pharmacy": pharmacy,
                    "user": getattr(pharmacy, "account", None) if pharmacy else None,
                    "finess": pharmacy.finess if pharmacy else "",
                    "name": "" if pharmacy else "Claire Martin",
                    "email": pharmacy.email if pharmacy and pharmacy.email else "claire.martin@demo.example",
                    "reason": reason,
                    "message": message,
                    "status": status,
                    "session": current if pharmacy == with_order else None,
                    "order": order if pharmacy == with_order else None,
                    "created_at": created_at,
                    "due_at": support_due_at(sent_at=created_at),
                    "acknowledged_at": created_at,
                    "first_answered_at": created_at + timedelta(minutes=40) if reply else None,
                },
            )
            self.report.count("demandes de support", created)
            if created and reply:
                SupportMessage.objects.create(
                    request=support_request,
                    kind=SupportMessage.Kind.REPLY,
                    body=reply,
                    author_label="Support niveau 1",
                    created_at=created_at + timedelta(minutes=40),
                    emailed_at=created_at + timedelta(minutes=40),
                )
                SupportMessage.objects.create(
                    request=support_request,
                    kind=SupportMessage.Kind.NOTE,
                    body="Officine rappelée, elle confirme avoir reçu l'information.",
                    author_label="Support niveau 1",
                    created_at=created_at + timedelta(minutes=45),
                )

    def seed_admin(self) -> None:
        user, created = User.objects.get_or_create(
            username="admin",
            defaults={
                "email": "admin@demo.commande-vaccins.example",
                "is_staff": True,
                "is_superuser": True,
                "first_name": "Admin",
                "last_name": "SpF",
            },
        )
        if created:
            user.set_password("admin-demo")
            user.save(update_fields=["password"])
        self.report.count("comptes", created)

    def seed_agents(self) -> None:
        """Demo agents of each role (development only), e-mail verified and TOTP enrolled: on the agents' login
        page they type DEMO_AGENT_PASSWORD, then the demo TOTP code of settings/local.py (000000)."""
        from allauth.account.models import EmailAddress
        from allauth.mfa.models import Authenticator
        from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
        from django.contrib.auth.models import Group

        from accounts.models import Region
        from accounts.roles import ROLE_ARS, ROLE_LOGISTICS, ROLE_SUPPORT_1, ROLE_SUPPORT_2

        agents = [
            ("logistique", "Louise", "Logistique", ROLE_LOGISTICS, None),
            ("support1", "Samuel", "Support", ROLE_SUPPORT_1, None),
            ("support2", "Sarah", "Expertise", ROLE_SUPPORT_2, None),
            ("ars-idf", "Inès", "Durand", ROLE_ARS, "11"),
        ]
        for username, first_name, last_name, role, region_code in agents:
            user, created = User.objects.get_or_create(
                username=f"{username}@demo.commande-vaccins.example",
                defaults={
                    "email": f"{username}@demo.commande-vaccins.example",
                    "first_name": first_name,
                    "last_name": last_name,
                    "is_staff": region_code is None,
                    "region": Region.objects.get(code=region_code) if region_code else None,
                },
            )
            if created:
                user.set_password(DEMO_AGENT_PASSWORD)
                user.save(update_fields=["password"])
                user.groups.add(Group.objects.get_or_create(name=role)[0])
            self.report.count("agents", created)
        for user in User.objects.filter(is_staff=True) | User.objects.filter(region__isnull=False):
            if user.email:
                EmailAddress.objects.get_or_create(
                    user=user, email=user.email, defaults={"verified": True, "primary": True}
                )
            if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
                TOTP.activate(user, generate_totp_secret())
