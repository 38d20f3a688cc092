"""/healthz, for the load balancer and the monitoring: the database, Redis, the Celery workers' heartbeat and beat's
last run, each reported separately. HTTP 200 when every dependency is up, 503 otherwise.

Unauthenticated, so it says WHAT is down, never where or why: no host, URL, version or error text (those go to the
server's log). Without Redis (development: Celery runs tasks in the web process), Redis, workers and beat are
"disabled", which is not a failure.

The workers' heartbeat: each worker writes `cv:health:worker:<hostname>` in Redis every WORKER_HEARTBEAT_INTERVAL
seconds, with a time-to-live of WORKER_HEARTBEAT_MAX_AGE, from a step of its consumer (so a worker that lost its
broker connection stops beating) and deletes it when it stops. Beat: the `beat_heartbeat` job (every 5 minutes,
executed by a worker) records its run in ScheduledJobRun; it must be younger than BEAT_HEARTBEAT_MAX_AGE.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import timedelta
from typing import Any

from celery import bootsteps, shared_task
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

WORKER_KEY_PREFIX = "cv:health:worker:"
OK, ERROR, UNKNOWN, DISABLED = "ok", "error", "unknown", "disabled"
HEALTHY = {OK, DISABLED}


def _redis():
    import redis

    timeout = settings.HEALTH_REDIS_TIMEOUT_SECONDS
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout)


def check_database() -> dict[str, Any]:
    alias = settings.HEALTH_DATABASE_ALIAS
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("healthz: database %s unreachable", alias)
        return {"status": ERROR}
    return {"status": OK}


def check_redis() -> dict[str, Any]:
    if not settings.REDIS_URL:
        return {"status": DISABLED}
    try:
        _redis().ping()
    except Exception:
        logger.exception("healthz: Redis unreachable")
        return {"status": ERROR}
    return {"status": OK}


def check_workers() -> dict[str, Any]:
    """How many workers beat recently (their keys expire WORKER_HEARTBEAT_MAX_AGE after their last beat)."""
    if not settings.REDIS_URL:
        return {"status": DISABLED}
    try:
        keys = list(_redis().scan_iter(match=WORKER_KEY_PREFIX + "*", count=100))
    except Exception:
        logger.exception("healthz: workers' heartbeats unreadable (Redis)")
        return {"status": UNKNOWN}
    return {"status": OK if keys else ERROR, "workers": len(keys)}


def check_beat() -> dict[str, Any]:
    if not settings.REDIS_URL:
        return {"status": DISABLED}
    from vaccine_orders.portal.models import ScheduledJobRun

    try:
        last = (
            ScheduledJobRun.objects.using(settings.HEALTH_DATABASE_ALIAS)
            .filter(name="beat_heartbeat", last_status=ScheduledJobRun.Status.SUCCESS)
            .values_list("last_finished_at", flat=True)
            .first()
        )
    except Exception:
        logger.exception("healthz: beat's last run unreadable (database)")
        return {"status": UNKNOWN}
    if last is None:
        return {"status": ERROR, "last_run": None}
    age = timezone.now() - last
    fresh = age <= timedelta(seconds=settings.BEAT_HEARTBEAT_MAX_AGE)
    return {"status": OK if fresh else ERROR, "last_run": last.isoformat(), "age_seconds": int(age.total_seconds())}


CHECKS = {"database": check_database, "redis": check_redis, "worker": check_workers, "beat": check_beat}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Deliberately public (the load balancer has no account); reveals no secret."""
    results = {name: check() for name, check in CHECKS.items()}
    healthy = all(result["status"] in HEALTHY for result in results.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": results},
        status=200 if healthy else 503,
        json_dumps_params={"ensure_ascii": False},
    )


# --- the worker's side ---------------------------------------------------------------------------------------------


def worker_heartbeat_key(hostname: str) -> str:
    return WORKER_KEY_PREFIX + hostname


def worker_heartbeat_write(hostname: str) -> None:
    payload = json.dumps({"at": time.time()})
    _redis().set(worker_heartbeat_key(hostname), payload, ex=settings.WORKER_HEARTBEAT_MAX_AGE)


def worker_heartbeat_clear(hostname: str) -> None:
    _redis().delete(worker_heartbeat_key(hostname))


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A step of the worker's consumer: beats while the worker is connected to its broker."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.timer_entry = None
        self.hostname = socket.gethostname()

    def start(self, parent: Any) -> None:
        if not settings.REDIS_URL:
            return
        self.hostname = getattr(parent, "hostname", None) or self.hostname
        self.beat()
        self.timer_entry = parent.timer.call_repeatedly(settings.WORKER_HEARTBEAT_INTERVAL, self.beat)

    def stop(self, parent: Any) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None
            try:
                worker_heartbeat_clear(self.hostname)
            except Exception:
                logger.warning("worker heartbeat: could not clear %s", self.hostname, exc_info=True)

    shutdown = stop

    def beat(self) -> None:
        try:
            worker_heartbeat_write(self.hostname)
        except Exception:
            # Redis down: the heartbeat simply ages out, which is what /healthz must see.
            logger.warning("worker heartbeat: Redis unreachable", exc_info=True)


@shared_task(name="vaccine_orders.health.ping", ignore_result=True)
def ping() -> str:
    """End-to-end check from a shell (`celery -A vaccine_orders call vaccine_orders.health.ping`): the worker logs
    it with the request id of whoever sent it."""
    logger.info("ping")
    return "pong"
