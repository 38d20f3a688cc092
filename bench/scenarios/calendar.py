"""The calendar's heavy reads and writes on a national-size session: 20 000 officines, 5 lines each.

1. orders_over_cap   — every registered line checked against the rules in force (the rules page, the
                       ordering core and logistics call it);
2. rules change      — session_rules_save on the open session: lock, validate, write, audit, and the list of
                       orders newly over the cap (orders_over_cap twice);
3. reminder targets  — the officines that ordered in one of the last sessions and not in this one;
4. published pages   — "Calendrier d'ouverture" and its ICS feed through the Django stack, p95.

    .venv/bin/python -m bench calendar [--quick]

Self-contained on a shared bench database: its officines have FINESS numbers starting with 98 (reused
between runs), its sessions sit in windows no other session uses, and are deleted at the end.
"""

from __future__ import annotations

import random
import statistics
from datetime import timedelta

from bench.harness import BenchContext, Figure, Stopwatch, percentile

SCENARIO = "calendar"
PRODUCT_CODES = [f"bench-calendrier-{n}" for n in range(5)]


def _free_window(*, start, hours: int = 2):
    from sessions_calendar.models import OrderSession

    while OrderSession.objects.filter(opens_at__lt=start + timedelta(hours=hours), closes_at__gt=start).exists():
        start += timedelta(hours=hours + 1)
    return start, start + timedelta(hours=hours)


def _dataset(count: int):
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Department, Pharmacy
    from effectors.models import Effector, EffectorType
    from sessions_calendar.models import CapRule, OrderSession, ProductOffer
    from vaccine_orders.identifiers import make_finess
    from vaccine_orders.orders.models import Order, OrderLine, Product

    rng = random.Random(6)  # bench data, not security
    department = Department.objects.get(code="75")
    pharmacist = EffectorType.objects.get(code="pharmacist")
    with transaction.atomic():
        Pharmacy.objects.bulk_create(
            [
                Pharmacy(
                    finess=make_finess(f"98{index:06d}"),
                    name=f"Pharmacie du calendrier {index}",
                    department=department,
                    email=f"calendrier{index}@bench.example",
                )
                for index in range(count)
            ],
            batch_size=5000,
            ignore_conflicts=True,
        )
        pharmacies = list(Pharmacy.objects.filter(finess__startswith="98").order_by("finess")[:count])
        Effector.objects.bulk_create(
            [Effector(type=pharmacist, pharmacy=p) for p in pharmacies], batch_size=5000, ignore_conflicts=True
        )
        own = dict(Effector.objects.filter(type=pharmacist, pharmacy__in=pharmacies).values_list("pharmacy_id", "pk"))
        products = []
        for index, code in enumerate(PRODUCT_CODES):
            product, _ = Product.objects.get_or_create(
                code=code,
                defaults={
                    "name": f"Produit du banc {index}",
                    "short_name": f"Banc {index}",
                    "kind": "other",
                    "unit": "unit",
                },
            )
            products.append(product)

        now = timezone.now()
        before_opens, before_closes = _free_window(start=now + timedelta(days=400))
        opens, closes = _free_window(start=before_closes + timedelta(days=7))
        previous = OrderSession.objects.create(opens_at=before_opens, closes_at=before_closes, notes="bench:calendar")
        session = OrderSession.objects.create(opens_at=opens, closes_at=closes, notes="bench:calendar")
        for product in products:
            offer = ProductOffer.objects.create(session=session, product=product)
            CapRule.objects.create(offer=offer, effector_type=pharmacist, mode="per_effector", limit=10)
        Order.objects.bulk_create(
            [
                Order(reference=f"BCP{index:07d}", pharmacy=p, session=previous)
                for index, p in enumerate(pharmacies[: count // 2])
            ],
            batch_size=5000,
        )
        orders = Order.objects.bulk_create(
            [
                Order(reference=f"BCC{index:07d}", pharmacy=p, session=session)
                for index, p in enumerate(pharmacies[count // 4 :])
            ],
            batch_size=5000,
        )
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    effector_id=own[order.pharmacy_id],
                    product=product,
                    quantity_requested=rng.randint(1, 11),
                )
                for order in orders
                for product in products
            ],
            batch_size=10000,
        )
    return session, previous, products, len(orders)


def _cleanup(*sessions) -> None:
    from django.db import transaction

    from vaccine_orders.orders.models import Order

    with transaction.atomic():
        for session in sessions:
            Order.objects.filter(session=session).delete()
            session.delete()


def run(ctx: BenchContext) -> list[Figure]:
    count = 2000 if ctx.quick else 20000
    ctx.setup_django()
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from sessions_calendar.rules import Cell, ProductRules
    from sessions_calendar.selectors import orders_over_cap, reminder_targets, session_rules
    from sessions_calendar.services import session_rules_save
    from vaccine_orders.audit.actors import Actor

    print(f"  jeu de données : {count} officines, 5 lignes par commande", flush=True)
    session, previous, products, order_count = _dataset(count)
    figures: list[Figure] = []
    try:
        lines = order_count * len(products)
        timings = []
        for _ in range(3):
            with Stopwatch() as watch, CaptureQueriesContext(connection) as queries:
                over = orders_over_cap(session=session)
            timings.append(watch.seconds)
        figures.append(
            Figure(
                SCENARIO,
                "orders_over_cap, médiane",
                round(statistics.median(timings) * 1000),
                "ms",
                note=f"{lines} lignes, {len(over)} au-delà du plafond, {len(queries)} requêtes",
            )
        )

        rules = session_rules(session=session)
        pharmacist_type = next(iter(rules[products[0].pk].cells))
        rules[products[0].pk] = ProductRules(True, None, None, {pharmacist_type: Cell("per_effector", 5)})
        with Stopwatch() as watch:
            result = session_rules_save(session=session, rules=rules, actor=Actor.system("Banc d'essai"))
        figures.append(
            Figure(
                SCENARIO,
                "modification des règles d'une session ouverte",
                round(watch.seconds * 1000),
                "ms",
                note=f"{order_count} commandes ; {len(result.newly_over_cap)} dépassements nouveaux listés",
            )
        )

        with Stopwatch() as watch:
            targets = list(reminder_targets(session=session).values_list("pk", flat=True))
        figures.append(
            Figure(
                SCENARIO, "destinataires du rappel", round(watch.seconds * 1000), "ms", note=f"{len(targets)} officines"
            )
        )

        client = Client(HTTP_HOST="localhost")  # an allowed host of the local settings
        for name, url in (
            ("page du calendrier", reverse("sessions_calendar:calendar")),
            ("flux ICS", reverse("sessions_calendar:calendar_ics")),
        ):
            client.get(url)
            samples = []
            for _ in range(30):
                reset_queries()
                with Stopwatch() as watch:
                    response = client.get(url)
                assert response.status_code == 200
                samples.append(watch.seconds * 1000)
            figures.append(
                Figure(
                    SCENARIO, f"{name}, p95", round(percentile(samples, 95), 1), "ms", note="30 requêtes, client Django"
                )
            )
    finally:
        _cleanup(session, previous)
    return figures
