"""PDF summaries: how many per second a 2-process Celery worker produces, their p95, the worker's memory,
and the floor — an empty WeasyPrint page rendered in the same run on the same machine.

Phases:
1. floor    — an empty page, then a typical summary (10 lines), rendered in this process after a warm-up;
2. worker   — a real `celery worker -Q pdf -c 2` renders every officine's summary (read the order, render,
              store): PDFs/s from the first task enqueued to the last file stored, the p95 of the time each
              PDF took inside the worker, and the peak resident memory of the pool processes.

    .venv/bin/python -m bench pdf [--quick]
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.harness import ROOT, BenchContext, Figure, percentile

SCENARIO = "pdf"
TARGET_RATE = 25.0
TARGET_P95_MS = 100.0
TARGET_MEMORY_MB = 150.0


# --- dataset (shared with the mailing scenario) --------------------------------------------------------


def setup_django(ctx: BenchContext, **env: str) -> None:
    os.environ.update(ctx.django_env(**env))
    setup = getattr(ctx, "setup_django", None)
    if setup is not None:
        setup()
        return
    import django
    from django.conf import settings

    if not settings.configured:
        django.setup()


def free_window(*, before_days: int, hours: int = 1):
    """A short ordering window `before_days` ago that overlaps no existing session (PostgreSQL forbids it)."""
    from django.db.models import Q
    from django.utils import timezone

    from sessions_calendar.models import OrderSession

    opens = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=before_days)
    while OrderSession.objects.filter(Q(opens_at__lt=opens + timedelta(hours=hours)) & Q(closes_at__gt=opens)).exists():
        opens -= timedelta(hours=hours + 1)
    return opens, opens + timedelta(hours=hours)


def build_dataset(
    ctx: BenchContext, *, pharmacies: int, doctors: int, establishments: int, label: str, published_days_ago: float
):
    """`pharmacies` officines ordering Moderna for themselves, their nurses, `doctors` doctors (each with
    an e-mail) and `establishments` EHPAD, plus syringes; all confirmed, a few lines reduced. Returns
    (session id, order ids). Wipes the previous dataset of the same `label`."""
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Department, Pharmacy
    from effectors.models import Attachment, Effector, EffectorType, Establishment, Professional
    from sessions_calendar.models import OrderSession, ProductOffer
    from vaccine_orders.identifiers import make_finess, make_rpps
    from vaccine_orders.orders.models import Order, OrderLine, Product

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE fulfilment_outboxmessage, fulfilment_ordersummary, fulfilment_logisticsexport, "
            "fulfilment_regionaldeliverydate, fulfilment_sessionfulfilment, orders_orderline, orders_order, "
            "audit_auditevent, effectors_attachment, effectors_effector, effectors_professional, "
            "effectors_establishment, sessions_calendar_caprule, sessions_calendar_productoffer, "
            "sessions_calendar_ordersession, accounts_user, accounts_pharmacy, orders_product "
            "RESTART IDENTITY CASCADE"
        )
    now = timezone.now()
    department = Department.objects.get(code="75")
    types = {t.code: t for t in EffectorType.objects.all()}
    with transaction.atomic():
        opens, closes = free_window(before_days=int(published_days_ago) + 3)
        session = OrderSession.objects.create(
            opens_at=opens,
            closes_at=closes,
            confirmation_published_at=now - timedelta(days=published_days_ago),
            delivery_start=(now + timedelta(days=3)).date(),
            delivery_end=(now + timedelta(days=4)).date(),
            notes=f"bench:{label}",
        )
        moderna = Product.objects.create(
            code="moderna",
            name="Moderna (Spikevax)",
            short_name="Moderna",
            kind="vaccine",
            unit="vial",
            units_per_box=10,
            doses_per_vial=10,
            storage_rule="Flacons à conserver 30 jours maximum entre 2 et 8 °C, à l'abri de la lumière.",
        )
        syringes = Product.objects.create(
            code="seringues",
            name="Seringues (boîte de 100)",
            short_name="Seringues",
            kind="medical_device",
            unit="box",
            units_per_box=100,
            sort_order=5,
        )
        for product in (moderna, syringes):
            ProductOffer.objects.create(session=session, product=product)
        officines = Pharmacy.objects.bulk_create(
            [
                Pharmacy(
                    finess=make_finess(f"75{index + 100000:06d}"),
                    name=f"Pharmacie du banc {index}",
                    address=f"{index % 200 + 1} rue de la République",
                    postal_code="75011",
                    city="Paris",
                    department=department,
                    email=f"officine{index}@bench.example",
                )
                for index in range(pharmacies)
            ],
            batch_size=2000,
        )
        professionals = Professional.objects.bulk_create(
            [
                Professional(
                    rpps=make_rpps(f"{index + 3000000:010d}"),
                    profession_code="10",
                    profession_label="Médecin",
                    last_name=f"MEDECIN{index}",
                    first_name="Camille",
                    department=department,
                    email=f"medecin{index}@bench.example",
                )
                for index in range(pharmacies * doctors)
            ],
            batch_size=2000,
        )
        places = Establishment.objects.bulk_create(
            [
                Establishment(
                    finess=make_finess(f"75{index + 400000:06d}"),
                    category_code="500",
                    category_label="EHPAD",
                    name=f"EHPAD du banc {index}",
                    department=department,
                )
                for index in range(pharmacies * establishments)
            ],
            batch_size=2000,
        )
        own = Effector.objects.bulk_create(
            [Effector(type=types["pharmacist"], pharmacy=p) for p in officines], batch_size=2000
        )
        nurses = Effector.objects.bulk_create(
            [Effector(type=types["nurse"], pharmacy=p) for p in officines], batch_size=2000
        )
        doctor_effectors = Effector.objects.bulk_create(
            [Effector(type=types["doctor"], professional=p) for p in professionals], batch_size=2000
        )
        place_effectors = Effector.objects.bulk_create(
            [Effector(type=types["ehpad"], establishment=e) for e in places], batch_size=2000
        )
        attachments = [Attachment(effector=e, pharmacy=p, source="system") for e, p in zip(own, officines, strict=True)]
        attachments += [
            Attachment(effector=e, pharmacy=p, source="system") for e, p in zip(nurses, officines, strict=True)
        ]
        attachments += [
            Attachment(effector=e, pharmacy=officines[i // doctors]) for i, e in enumerate(doctor_effectors)
        ]
        attachments += [
            Attachment(effector=e, pharmacy=officines[i // establishments]) for i, e in enumerate(place_effectors)
        ]
        Attachment.objects.bulk_create(attachments, batch_size=5000)
        orders = Order.objects.bulk_create(
            [
                Order(
                    reference=f"B{label[:1].upper()}{index:07d}",
                    pharmacy=p,
                    session=session,
                    validated_at=opens + timedelta(seconds=index % 3000),
                )
                for index, p in enumerate(officines)
            ],
            batch_size=2000,
        )
        lines = []
        for index, order in enumerate(orders):
            cells = [(own[index], moderna, 10), (own[index], syringes, 2), (nurses[index], moderna, 20)]
            cells += [(doctor_effectors[index * doctors + k], moderna, 5) for k in range(doctors)]
            cells += [(place_effectors[index * establishments + k], moderna, 30) for k in range(establishments)]
            for number, (effector, product, quantity) in enumerate(cells):
                reduced = (index + number) % 7 == 0 and quantity > 2
                lines.append(
                    OrderLine(
                        order=order,
                        effector=effector,
                        product=product,
                        quantity_requested=quantity,
                        quantity_confirmed=quantity - 2 if reduced else quantity,
                        reduction_reason="Stock disponible insuffisant" if reduced else "",
                    )
                )
        OrderLine.objects.bulk_create(lines, batch_size=5000)
    return session.pk, [order.pk for order in orders]


# --- a real worker ----------------------------------------------------------------------------------------


class Worker:
    def __init__(self, ctx: BenchContext, *, queues: str, concurrency: int = 2, **env: str) -> None:
        self.log = Path(tempfile.mkstemp(prefix="bench-worker-", suffix=".log")[1])
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/celery"),
                "-A",
                "vaccine_orders",
                "worker",
                "-Q",
                queues,
                "-c",
                str(concurrency),
                "-l",
                "INFO",  # the renderer logs each PDF's timings at INFO
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"bench-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=ctx.django_env(LOG_LEVEL="INFO", **env),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def pool_pids(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children]

    @staticmethod
    def _status_mb(pid: int, key: str) -> float:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    @staticmethod
    def _pss_mb(pid: int) -> float:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def rss_mb(self) -> float:
        """The largest current RSS of a pool process, in MB (before any task: the project's baseline)."""
        return max((self._status_mb(pid, "VmRSS") for pid in self.pool_pids()), default=0.0)

    def peak_rss_mb(self) -> tuple[float, float]:
        """(largest peak RSS of a pool process, peak RSS of the main process), in MB."""
        children = [self._status_mb(pid, "VmHWM") for pid in self.pool_pids()]
        return (max(children) if children else 0.0), self._status_mb(self.process.pid, "VmHWM")

    def cpu_seconds(self, *, pool_only: bool = False) -> float:
        """CPU time (user + system) used so far by the main and pool processes (or the pool only)."""
        total = 0
        for pid in [*([] if pool_only else [self.process.pid]), *self.pool_pids()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return total / os.sysconf("SC_CLK_TCK")

    def summary_timings(self) -> list[tuple[int, int]]:
        """(wall ms, CPU ms) of each PDF, from the renderer's log lines."""
        pattern = re.compile(r"summary rendered order=\d+ .* wall_ms=(\d+) cpu_ms=(\d+)")
        return [
            (int(m.group(1)), int(m.group(2)))
            for m in map(pattern.search, self.log.read_text(errors="replace").splitlines())
            if m
        ]

    def pss_mb(self) -> float:
        """The whole worker's proportional memory (main and pool processes, shared pages counted once)."""
        return sum(self._pss_mb(pid) for pid in [self.process.pid, *self.pool_pids()])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def send_task(ctx: BenchContext, name: str, *args, queue: str) -> None:
    from celery import Celery

    producer = Celery("bench-producer", broker=ctx.redis_url)
    try:
        producer.send_task(name, args=list(args), queue=queue)
    finally:
        producer.close()


def flush_redis(ctx: BenchContext) -> None:
    import redis

    redis.Redis.from_url(ctx.redis_url).flushdb()


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise RuntimeError(f"bench: timed out after {timeout:.0f} s waiting for {what}")


# --- the scenario -------------------------------------------------------------------------------------------


def _in_process_times(render, count: int) -> list[float]:
    for _ in range(5):
        render()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        render()
        times.append((time.perf_counter() - started) * 1000)
    return times


def run(ctx: BenchContext) -> list[Figure]:
    count = 60 if ctx.quick else 600
    media = tempfile.mkdtemp(prefix="bench-pdf-media-")
    setup_django(ctx, MEDIA_ROOT=media)
    from django.db import connection
    from django.utils import timezone

    from fulfilment.models import OrderSummary
    from fulfilment.pdf import render_empty_page, render_summary_pdf
    from fulfilment.selectors import order_follow_up
    from vaccine_orders.orders.models import Order

    print(f"  jeu de données : {count} officines, 10 lignes chacune", flush=True)
    _, order_ids = build_dataset(ctx, pharmacies=count, doctors=4, establishments=1, label="pdf", published_days_ago=1)

    # 1. Floor: an empty page, then a typical summary, in this process.
    empty = _in_process_times(render_empty_page, 50)
    order = Order.objects.select_related("session", "pharmacy__department").get(pk=order_ids[0])
    follow_up = order_follow_up(order=order, at=timezone.now(), reveal=True)
    typical = _in_process_times(lambda: render_summary_pdf(follow_up), 30)
    connection.close()

    # 2. A real worker, two pool processes.
    flush_redis(ctx)
    worker = Worker(ctx, queues="pdf", concurrency=2, MEDIA_ROOT=media)
    try:
        wait_until(lambda: len(worker.pool_pids()) == 2, timeout=120, what="the worker's pool")
        time.sleep(2)
        baseline_mb = worker.rss_mb()
        warm = order_ids[:4]
        for order_id in warm:
            send_task(ctx, "fulfilment.tasks.render_summaries_pdf", [order_id], queue="pdf")
        wait_until(
            lambda: OrderSummary.objects.filter(order_id__in=warm).count() == len(warm), timeout=120, what="warm-up"
        )
        warm_mb = worker.rss_mb()
        measured = order_ids[4:]
        logged_before = len(worker.summary_timings())
        cpu_before = worker.cpu_seconds()
        pool_cpu_before = worker.cpu_seconds(pool_only=True)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        for start in range(0, len(measured), 10):
            send_task(ctx, "fulfilment.tasks.render_summaries_pdf", measured[start : start + 10], queue="pdf")
        wait_until(
            lambda: OrderSummary.objects.filter(order_id__in=measured).count() == len(measured),
            timeout=3600,
            what="every PDF",
        )
        elapsed = time.perf_counter() - started
        cpu_used = worker.cpu_seconds() - cpu_before
        pool_cpu_used = worker.cpu_seconds(pool_only=True) - pool_cpu_before
        load_after = os.getloadavg()[0]
        pool_mb, main_mb = worker.peak_rss_mb()
        end_mb = worker.rss_mb()
        pss_mb = worker.pss_mb()
    finally:
        worker.stop()
    timings = worker.summary_timings()[logged_before:]
    wall = [float(w) for w, _ in timings]
    cpu = [float(c) for _, c in timings]
    pages = sorted(set(OrderSummary.objects.filter(order_id__in=measured).values_list("page_count", flat=True)))
    rate = len(measured) / elapsed
    # What two cores of our own would give: the pool's CPU seconds per PDF, two processes in parallel.
    capacity = 2 * len(measured) / cpu_used if cpu_used else float("nan")
    p95_cpu = percentile(cpu, 95)
    contention = (
        f"charge de la machine (load average) {load_before:.1f} → {load_after:.1f} ; "
        "le débit mesuré et la durée mesurée incluent l'attente du processeur quand d'autres processus l'occupent"
    )
    return [
        Figure(SCENARIO, "Page vide WeasyPrint (plancher), moyenne", statistics.mean(empty), "ms"),
        Figure(SCENARIO, "Page vide WeasyPrint (plancher), p95", percentile(empty, 95), "ms"),
        Figure(SCENARIO, "Récapitulatif type (10 lignes), 1 processus, moyenne", statistics.mean(typical), "ms"),
        Figure(SCENARIO, "Récapitulatif type (10 lignes), 1 processus, p95", percentile(typical, 95), "ms"),
        Figure(
            SCENARIO,
            "Débit mesuré du worker Celery (2 processus, lecture + rendu + stockage)",
            rate,
            "PDF/s",
            note=f"{len(measured)} PDF en {elapsed:.1f} s, {pages} page(s) ; {contention}",
        ),
        Figure(
            SCENARIO,
            "Débit sur 2 cœurs (temps CPU du worker par PDF)",
            capacity,
            "PDF/s",
            target=f"≥ {TARGET_RATE:g} PDF/s",
            ok=capacity >= TARGET_RATE,
            note=(
                f"{cpu_used:.1f} s CPU pour {len(measured)} PDF ({1000 * cpu_used / len(measured):.1f} ms par PDF, "
                f"dont {1000 * pool_cpu_used / len(measured):.1f} ms dans les processus du pool)"
            ),
        ),
        Figure(
            SCENARIO,
            "Temps CPU d'un PDF dans le worker, p95",
            p95_cpu,
            "ms",
            target=f"≤ {TARGET_P95_MS:g} ms",
            ok=p95_cpu <= TARGET_P95_MS,
            note=f"médiane {percentile(cpu, 50):.0f} ms",
        ),
        Figure(
            SCENARIO,
            "Durée mesurée d'un PDF dans le worker, p95",
            percentile(wall, 95),
            "ms",
            note=f"médiane {percentile(wall, 50):.0f} ms ; {contention}",
        ),
        Figure(
            SCENARIO,
            "Mémoire max d'un processus du worker (VmHWM)",
            pool_mb,
            "Mo",
            target=f"< {TARGET_MEMORY_MB:g} Mo",
            ok=pool_mb < TARGET_MEMORY_MB,
            note=(
                f"avant tout PDF (Django et les applications du projet) : {baseline_mb:.0f} Mo ; après échauffement : "
                f"{warm_mb:.0f} Mo ; processus principal : {main_mb:.0f} Mo"
            ),
        ),
        Figure(
            SCENARIO,
            "Croissance de la mémoire d'un processus pendant la série",
            (end_mb - warm_mb) / warm_mb * 100 if warm_mb else 0.0,
            "%",
            target="< 10 %",
            ok=end_mb - warm_mb < 0.1 * warm_mb,
            note=f"{warm_mb:.0f} → {end_mb:.0f} Mo sur {len(measured)} PDF",
        ),
        Figure(SCENARIO, "Mémoire proportionnelle du worker entier (PSS, 3 processus)", pss_mb, "Mo"),
    ]
