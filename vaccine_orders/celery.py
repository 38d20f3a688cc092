"""The Celery application: Redis broker, JSON only, schedule and limits from the Django settings."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vaccine_orders.settings.local")

app = Celery("vaccine_orders")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Workers and beat log like the web (JSON lines in production), each task line with the request id that enqueued
# it; and every worker beats in Redis for /healthz (vaccine_orders.health).
from vaccine_orders.logging import install_celery_logging  # noqa: E402 - after the app exists

install_celery_logging()
app.steps["consumer"].add("vaccine_orders.health:WorkerHeartbeat")
