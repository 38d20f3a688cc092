"""The Friday mailing: 40,000 messages (10,000 officines with their PDF attached, 30,000 doctors) sent by a
real 2-process Celery worker to a local SMTP sink, as on a Friday morning.

Phases, on the same dataset:
1. publication — the job run on Wednesday 18:00 renders every officine's PDF summary (PDF/s);
2. mailing     — the Friday job prepares the outbox and the worker sends it, one SMTP connection per batch
                 (messages/s, minutes for 40,000, duplicates and recipients missed, counted by the sink).

    .venv/bin/python -m bench mailing [--quick]      # --quick: 100 officines, 400 messages
"""

from __future__ import annotations

import os
import tempfile
import time

from bench.harness import BenchContext, Figure
from bench.scenarios.pdf import Worker, build_dataset, flush_redis, send_task, setup_django, wait_until

SCENARIO = "mailing"
DOCTORS = 3
TARGET_MESSAGES = 40_000
TARGET_MINUTES = 60.0


def run(ctx: BenchContext) -> list[Figure]:
    pharmacies = 100 if ctx.quick else TARGET_MESSAGES // (1 + DOCTORS)
    expected = pharmacies * (1 + DOCTORS)
    media = tempfile.mkdtemp(prefix="bench-mailing-media-")
    setup_django(ctx, MEDIA_ROOT=media)
    from django.db.models import Count

    from fulfilment.models import OrderSummary, OutboxMessage
    from fulfilment.smtp_sink import SmtpSink

    print(
        f"  jeu de données : {pharmacies} officines, {pharmacies * DOCTORS} médecins, {expected} messages", flush=True
    )
    started = time.perf_counter()
    _, order_ids = build_dataset(
        ctx, pharmacies=pharmacies, doctors=DOCTORS, establishments=0, label="mailing", published_days_ago=0.05
    )
    print(f"  jeu de données construit en {time.perf_counter() - started:.0f} s", flush=True)

    flush_redis(ctx)
    with SmtpSink() as sink:
        worker = Worker(
            ctx,
            queues="default,mail,pdf",
            concurrency=2,
            MEDIA_ROOT=media,
            EMAIL_URL=f"smtp://127.0.0.1:{sink.port}",
        )
        try:
            # 1. Wednesday 18:00: publication renders the PDFs.
            started = time.perf_counter()
            send_task(ctx, "fulfilment.tasks.publish_due_confirmations", queue="default")
            wait_until(
                lambda: OrderSummary.objects.filter(order_id__in=order_ids).count() == len(order_ids),
                timeout=4 * 3600,
                what="the publication's PDFs",
                interval=1,
            )
            publication_seconds = time.perf_counter() - started
            print(f"  publication : {len(order_ids)} PDF en {publication_seconds:.0f} s", flush=True)

            # 2. Friday morning: the mailing.
            started = time.perf_counter()
            send_task(ctx, "fulfilment.tasks.friday_mailing", queue="mail")
            wait_until(
                lambda: OutboxMessage.objects.filter(status=OutboxMessage.Status.SENT).count() == expected,
                timeout=4 * 3600,
                what="every message sent",
                interval=1,
            )
            mailing_seconds = time.perf_counter() - started
            pool_mb, _ = worker.peak_rss_mb()
            load = os.getloadavg()[0]
        finally:
            worker.stop()
        received = sink.per_recipient()
        connections = sink.connections
    statuses = dict(OutboxMessage.objects.values_list("status").annotate(n=Count("id")).order_by())
    duplicates = sum(received.values()) - len(received)
    missing = expected - len(received)
    rate = expected / mailing_seconds
    minutes_for_target = TARGET_MESSAGES / rate / 60
    note = "mesuré" if expected == TARGET_MESSAGES else f"extrapolé depuis {expected} messages"
    return [
        Figure(
            SCENARIO, "Messages envoyés au puits SMTP", float(sum(received.values())), "messages", note=str(statuses)
        ),
        Figure(
            SCENARIO,
            "Débit du publipostage (2 processus, une connexion SMTP par lot)",
            rate,
            "msg/s",
            note=f"{expected} messages en {mailing_seconds:.0f} s, {connections} connexions SMTP",
        ),
        Figure(
            SCENARIO,
            "Durée pour 40 000 messages",
            minutes_for_target,
            "min",
            target=f"≤ {TARGET_MINUTES:g} min",
            ok=minutes_for_target <= TARGET_MINUTES,
            note=note,
        ),
        Figure(
            SCENARIO,
            "Doublons et destinataires manqués",
            float(duplicates + missing),
            "messages",
            target="0",
            ok=duplicates == 0 and missing == 0,
            note=f"doublons {duplicates}, manqués {missing}",
        ),
        Figure(
            SCENARIO,
            "PDF rendus à la publication (mercredi 18 h)",
            len(order_ids) / publication_seconds,
            "PDF/s",
            note=f"{len(order_ids)} PDF en {publication_seconds:.0f} s",
        ),
        Figure(
            SCENARIO,
            "Publication et publipostage, bout à bout",
            (publication_seconds + mailing_seconds) / 60,
            "min",
            note=f"PDF de toutes les officines puis {expected} messages ; charge de la machine {load:.1f}",
        ),
        Figure(SCENARIO, "Mémoire max d'un processus du worker (VmHWM)", pool_mb, "Mo"),
    ]
