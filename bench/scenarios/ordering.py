"""Opening rush: thousands of officines order at once, through gunicorn and PostgreSQL.

Phases, each on the same dataset (orders wiped in between):
1. journey  — each simulated officine runs the whole journey: Saisie de commande, grid, Suivant (recap),
              Valider, order page — at 25 concurrent clients;
2. validation — every officine's recap is prepared, then all the "Valider" POSTs are fired at 25
              concurrent clients: orders/s and latency of the validation itself;
3. floor    — the same transaction through the bare view (bench/views.py), same concurrency: the ratio
              real/bare is the cost of everything the service adds (caps, forms, templates, audit, e-mail);
4. stock    — Moderna for occupational doctors within a national stock smaller than the demand, at 50
              concurrent clients: throughput, latency, and zero oversell.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from bench.harness import ROOT, BenchContext, CpuMeter, Figure, percentile
from bench.http import Browser, hidden_fields

SCENARIO = "ordering"


@dataclass
class Officine:
    pharmacy_id: int
    session_cookie: str
    cells: dict[str, int]  # the quantities this officine orders
    stock_cells: dict[str, int]  # Moderna, for the stock phase


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_dataset(ctx: BenchContext, count: int) -> tuple[int, int, list[Officine]]:
    ctx.setup_django()
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Department, Pharmacy, User
    from effectors.models import Attachment, Effector, EffectorType, Professional
    from sessions_calendar.models import CapRule, OrderSession, ProductOffer
    from vaccine_orders.identifiers import make_finess, make_rpps
    from vaccine_orders.orders.caps import CellKey
    from vaccine_orders.orders.models import Product

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE orders_orderline, orders_order, audit_auditevent, django_session, effectors_attachment, "
            "effectors_effector, effectors_professional, sessions_calendar_caprule, sessions_calendar_productoffer, "
            "sessions_calendar_ordersession, accounts_user, accounts_pharmacy, orders_product "
            "RESTART IDENTITY CASCADE"
        )
    now = timezone.now()
    session = OrderSession.objects.create(opens_at=now - timedelta(hours=1), closes_at=now + timedelta(days=1))
    products = {
        code: Product.objects.create(
            code=code,
            name=name,
            short_name=name,
            kind=kind,
            unit=unit,
            units_per_box=10,
            doses_per_vial=doses,
            has_injection_rank=rank,
        )
        for code, name, kind, unit, doses, rank in [
            ("astrazeneca", "AstraZeneca", "vaccine", "vial", 10, True),
            ("janssen", "Janssen", "vaccine", "vial", 5, False),
            ("moderna", "Moderna", "vaccine", "vial", 10, False),
            ("seringues", "Seringues", "medical_device", "box", None, False),
        ]
    }
    types = {t.code: t for t in EffectorType.objects.all()}
    az = ProductOffer.objects.create(session=session, product=products["astrazeneca"])
    janssen = ProductOffer.objects.create(session=session, product=products["janssen"])
    syringes = ProductOffer.objects.create(session=session, product=products["seringues"])
    rules = [
        CapRule(offer=az, effector_type=types["doctor"], injection_rank=r, mode="per_effector", limit=5) for r in (1, 2)
    ]
    rules += [
        CapRule(offer=az, effector_type=types["pharmacist"], injection_rank=r, mode="per_pharmacy", limit=5)
        for r in (1, 2)
    ]
    rules += [
        CapRule(offer=janssen, effector_type=types[c], mode="per_effector", limit=10)
        for c in ("pharmacist", "doctor", "nurse", "midwife")
    ]
    rules += [CapRule(offer=syringes, effector_type=types["pharmacist"], mode="unlimited")]
    CapRule.objects.bulk_create(rules)

    paris = Department.objects.get(code="75")
    pharmacies = Pharmacy.objects.bulk_create(
        Pharmacy(
            finess=make_finess(f"75{i + 100000:06d}"),
            name=f"Pharmacie {i}",
            department=paris,
            email=f"officine{i}@bench.example",
            email_verified_at=now,
        )
        for i in range(count)
    )
    users = User.objects.bulk_create(
        User(username=f"officine-{p.finess}", email=p.email, pharmacy=p) for p in pharmacies
    )
    professionals = Professional.objects.bulk_create(
        Professional(
            rpps=make_rpps(f"{i + 7000000000:010d}"), profession_code="10", last_name=f"MEDECIN{i}", department=paris
        )
        for i in range(count * 4)
    )
    effectors = []
    for index, pharmacy in enumerate(pharmacies):
        effectors.append(Effector(type=types["pharmacist"], pharmacy=pharmacy))
        effectors.append(Effector(type=types["nurse"], pharmacy=pharmacy))
        for k in range(3):
            effectors.append(Effector(type=types["doctor"], professional=professionals[index * 4 + k]))
        effectors.append(Effector(type=types["occupational_doctor"], professional=professionals[index * 4 + 3]))
    effectors = Effector.objects.bulk_create(effectors)
    per_pharmacy = 6
    Attachment.objects.bulk_create(
        Attachment(effector=e, pharmacy=pharmacies[i // per_pharmacy]) for i, e in enumerate(effectors)
    )
    officines = []
    for index, (pharmacy, user) in enumerate(zip(pharmacies, users, strict=True)):
        own, nurses, d1, d2, d3, occupational = effectors[index * per_pharmacy : (index + 1) * per_pharmacy]
        # The same session engine as the server (Redis when REDIS_URL is set, as in production).
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        store.update(
            {
                SESSION_KEY: str(user.pk),
                BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
                HASH_SESSION_KEY: user.get_session_auth_hash(),
                "actor_label": f"Titulaire bench {index} (Pro Santé Connect)",
            }
        )
        store.create()
        key = store.session_key
        cells = {
            CellKey(d1.pk, products["astrazeneca"].pk, 1).field_name: 3,
            CellKey(d2.pk, products["astrazeneca"].pk, 1).field_name: 2,
            CellKey(d3.pk, products["astrazeneca"].pk, 2).field_name: 4,
            CellKey(own.pk, products["astrazeneca"].pk, 1).field_name: 5,
            CellKey(nurses.pk, products["janssen"].pk, 0).field_name: 10,
            CellKey(own.pk, products["seringues"].pk, 0).field_name: 2,
        }
        stock_cells = {CellKey(occupational.pk, products["moderna"].pk, 0).field_name: 10}
        officines.append(Officine(pharmacy.pk, key, cells, stock_cells))
    return session.pk, products["moderna"].pk, officines


def add_national_stock(ctx: BenchContext, session_id: int, product_id: int, vials: int) -> int:
    from effectors.models import EffectorType
    from sessions_calendar.models import CapRule, ProductOffer

    offer = ProductOffer.objects.create(session_id=session_id, product_id=product_id, national_stock=vials, box_size=10)
    CapRule.objects.create(
        offer=offer, effector_type=EffectorType.objects.get(code="occupational_doctor"), mode="per_effector", limit=10
    )
    return offer.pk


def wipe_orders() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE orders_orderline, orders_order, audit_auditevent RESTART IDENTITY CASCADE")
        cursor.execute("UPDATE sessions_calendar_productoffer SET stock_taken = 0")


class Server:
    """gunicorn with the production settings (bench.settings adds the bare view), 5 sync workers."""

    def __init__(self, ctx: BenchContext) -> None:
        self.port = _free_port()
        production = {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "ALLOWED_HOSTS": "127.0.0.1",
            "EMAIL_URL": "dummymail://",
            "PSC_SERVER_URL": "https://psc.invalid",
            "PSC_CLIENT_ID": "bench",
            "PSC_CLIENT_SECRET": "bench",
            "SECURE_SSL_REDIRECT": "false",
            "STATIC_ROOT": str(ROOT / "var/bench/static"),
        }
        ctx.manage("collectstatic", "--noinput", "-v0", **production)  # the manifest storage needs it
        env = ctx.django_env(**production)
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "vaccine_orders.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                os.environ.get("BENCH_WORKERS", "5"),
                "--timeout",
                "60",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        self.group = self.process.pid  # its own session: the master and its workers share this process group
        deadline = time.time() + 60
        status = None
        while time.time() < deadline:
            try:
                status = Browser("127.0.0.1", self.port).get("/").status
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn did not serve the home page (last status: {status})")

    def browser(self, officine: Officine) -> Browser:
        return Browser("127.0.0.1", self.port, {"__Secure-sessionid": officine.session_cookie})

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(30)


def _prepare(server: Server, session_id: int, officine: Officine, cells: dict[str, int], timings: dict) -> tuple:
    browser = server.browser(officine)
    grid = browser.get(f"/commandes/session/{session_id}/")
    assert grid.status == 200, grid.body[:500]
    fields = hidden_fields(grid.body, "grille-commande")
    recap = browser.post(f"/commandes/session/{session_id}/", {**fields, **cells, "action": "suivant"})
    if recap.status != 200 or "form-valider" not in recap.body:
        raise RuntimeError(f"recap failed ({recap.status}): {recap.body[:2000]}")
    timings["grid"].append(grid.seconds)
    timings["recap"].append(recap.seconds)
    return browser, hidden_fields(recap.body, "form-valider")


def _run_pool(concurrency: int, work, items) -> tuple[list, float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(work, items))
    return results, time.perf_counter() - started


def _cpu_figures(phase: str, meter: CpuMeter, requests: int) -> list[Figure]:
    """Where the two cores went during a phase, per request: the server, PostgreSQL, Redis, the load generator."""
    per_request = meter.per_request_ms(requests)
    figures = [
        Figure(SCENARIO, f"{phase}: CPU per request, {name}", per_request[name], "ms")
        for name in ("server", "postgresql", "redis", "load generator", "other")
    ]
    busy = sum(meter.seconds.values()) / meter.wall_seconds / (os.cpu_count() or 1)
    figures.append(Figure(SCENARIO, f"{phase}: machine busy", 100 * busy, "%"))
    return figures


def _latency_figures(name: str, values: list[float], target_p95: float | None = None) -> list[Figure]:
    ms = [v * 1000 for v in values]
    figures = [Figure(SCENARIO, f"{name} p50", percentile(ms, 50), "ms")]
    p95 = percentile(ms, 95)
    figures.append(
        Figure(
            SCENARIO,
            f"{name} p95",
            p95,
            "ms",
            f"≤ {target_p95:.0f} ms" if target_p95 else "",
            None if target_p95 is None else p95 <= target_p95,
        )
    )
    figures.append(Figure(SCENARIO, f"{name} p99", percentile(ms, 99), "ms"))
    return figures


def run(ctx: BenchContext) -> list[Figure]:
    count = 300 if ctx.quick else 2000
    session_id, moderna_id, officines = build_dataset(ctx, count)
    server = Server(ctx)
    figures: list[Figure] = [Figure(SCENARIO, "simulated officines", count, "officines")]
    try:
        for officine in officines[:20]:  # warm the workers up (imports, connections, caches)
            server.browser(officine).get(f"/commandes/session/{session_id}/")

        # 1. The whole journey.
        timings: dict[str, list[float]] = {"start": [], "grid": [], "recap": [], "validate": [], "detail": []}

        def journey(officine: Officine) -> int:
            browser = server.browser(officine)
            start = browser.get("/commandes/saisie/")
            timings["start"].append(start.seconds)
            browser_, recap_fields = _prepare(server, session_id, officine, officine.cells, timings)
            validated = browser_.post(f"/commandes/session/{session_id}/valider/", recap_fields)
            timings["validate"].append(validated.seconds)
            if validated.status != 302:
                return validated.status
            detail = browser_.get(validated.headers["location"])
            timings["detail"].append(detail.seconds)
            return detail.status

        statuses, seconds = _run_pool(25, journey, officines)
        figures.append(Figure(SCENARIO, "journey: complete journeys/s (25 clients)", count / seconds, "journeys/s"))
        figures.append(
            Figure(
                SCENARIO,
                "journey: errors",
                sum(s != 200 for s in statuses),
                "requests",
                "0",
                all(s == 200 for s in statuses),
            )
        )
        for step in ("start", "grid", "recap", "validate", "detail"):
            figures.extend(_latency_figures(f"journey: {step}", timings[step]))
        wipe_orders()

        # 2. Validation alone, 25 clients.
        prep_timings: dict[str, list[float]] = {"grid": [], "recap": []}
        prepared, _ = _run_pool(25, lambda o: _prepare(server, session_id, o, o.cells, prep_timings), officines)
        validate_times: list[float] = []

        def validate(item) -> int:
            browser, fields = item
            response = browser.post(f"/commandes/session/{session_id}/valider/", fields)
            validate_times.append(response.seconds)
            return response.status

        with CpuMeter(server.group) as meter:
            statuses, seconds = _run_pool(25, validate, prepared)
        rate = count / seconds
        figures.append(Figure(SCENARIO, "validation: orders/s (25 clients)", rate, "orders/s", "≥ 200", rate >= 200))
        figures.extend(_latency_figures("validation", validate_times, target_p95=150))
        figures.extend(_cpu_figures("validation", meter, count))
        figures.append(
            Figure(
                SCENARIO,
                "validation: non-302 responses",
                sum(s != 302 for s in statuses),
                "requests",
                "0",
                all(s == 302 for s in statuses),
            )
        )
        wipe_orders()

        # 3. The floor: the same transaction through the bare view.
        bare_times: list[float] = []

        def bare(item) -> int:
            browser, fields = item
            data = {k: v for k, v in fields.items() if k.startswith("q-") or k == "csrfmiddlewaretoken"}
            response = browser.post(f"/bench/bare-order/{session_id}/", data)
            bare_times.append(response.seconds)
            return response.status

        with CpuMeter(server.group) as meter:
            statuses, bare_seconds = _run_pool(25, bare, prepared)
        bare_rate = count / bare_seconds
        figures.append(Figure(SCENARIO, "floor: bare-view orders/s (25 clients)", bare_rate, "orders/s"))
        figures.extend(_latency_figures("floor", bare_times))
        figures.extend(_cpu_figures("floor", meter, count))
        figures.append(Figure(SCENARIO, "validation / floor throughput ratio", rate / bare_rate, "×"))
        assert all(s == 204 for s in statuses), statuses[:10]
        wipe_orders()

        # 4. National first-come-first-served stock, 50 clients, demand above the stock.
        stock_vials = (count * 6 // 10) * 10  # boxes for 60 % of the officines
        offer_id = add_national_stock(ctx, session_id, moderna_id, stock_vials)
        prep_timings = {"grid": [], "recap": []}
        prepared, _ = _run_pool(
            50, lambda o: _prepare(server, session_id, o, {**o.cells, **o.stock_cells}, prep_timings), officines
        )
        stock_times: list[float] = []
        stock_times_by_outcome: dict[bool, list[float]] = {True: [], False: []}  # refused → latencies

        def validate_stock(item) -> tuple[int, bool]:
            browser, fields = item
            response = browser.post(f"/commandes/session/{session_id}/valider/", fields)
            refused = "le stock national est épuisé" in response.body
            stock_times.append(response.seconds)
            stock_times_by_outcome[refused].append(response.seconds)
            return response.status, refused

        with CpuMeter(server.group) as meter:
            results, seconds = _run_pool(50, validate_stock, prepared)
        accepted = sum(1 for status, _ in results if status == 302)
        clean_refusals = sum(1 for status, refused in results if status == 200 and refused)
        other = count - accepted - clean_refusals
        stock_rate = count / seconds
        figures.append(
            Figure(SCENARIO, "stock: validations/s (50 clients)", stock_rate, "requests/s", "≥ 150", stock_rate >= 150)
        )
        figures.append(Figure(SCENARIO, "stock: accepted orders", accepted, "orders"))
        figures.append(Figure(SCENARIO, "stock: clean refusals (stock exhausted)", clean_refusals, "requests"))
        figures.append(Figure(SCENARIO, "stock: other responses (500, 503…)", other, "requests", "0", other == 0))
        figures.extend(_latency_figures("stock validation", stock_times, target_p95=400))
        figures.extend(_latency_figures("stock validation, accepted", stock_times_by_outcome[False])[:2])
        figures.extend(_latency_figures("stock validation, refused", stock_times_by_outcome[True])[:2])
        figures.extend(_cpu_figures("stock", meter, count))

        from django.db.models import Sum

        from sessions_calendar.models import ProductOffer
        from vaccine_orders.orders.models import OrderLine

        offer = ProductOffer.objects.get(pk=offer_id)
        held = OrderLine.objects.filter(product_id=moderna_id).aggregate(s=Sum("quantity_requested"))["s"] or 0
        oversold = max(0, held - offer.national_stock) + abs(held - offer.stock_taken)
        figures.append(
            Figure(
                SCENARIO,
                "stock: oversold vials (Σ lines − stock, counter drift)",
                oversold,
                "vials",
                "0",
                oversold == 0 and accepted == stock_vials // 10,
            )
        )
    finally:
        server.stop()
    return figures
