"""A real Celery worker for tests/security/test_healthz.py: the test settings, with Redis (REDIS_URL) as the broker
and the production logging (JSON lines with the request id)."""

from vaccine_orders.settings.test import *  # noqa: F403
from vaccine_orders.settings.test import env

CELERY_BROKER_URL = env("REDIS_URL")
CELERY_TASK_ALWAYS_EAGER = False
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "vaccine_orders.logging.JsonFormatter"}},
    "filters": {"request_id": {"()": "vaccine_orders.logging.RequestIdFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
