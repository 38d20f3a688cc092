"""Production: every required variable must be set, or the process refuses to start and names it."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASES, LOGGING, MIDDLEWARE, env

REQUIRED = [
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "ALLOWED_HOSTS",
    "EMAIL_URL",
    "PSC_SERVER_URL",
    "PSC_CLIENT_ID",
    "PSC_CLIENT_SECRET",
]
_missing = [name for name in REQUIRED if not env.str(name, default="").strip()]
if _missing:
    raise ImproperlyConfigured(
        "Configuration de production incomplète : variable(s) d'environnement manquante(s) : " + ", ".join(_missing)
    )

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

# Persistent connections: a new PostgreSQL backend per request costs 2.6x the throughput (PERFORMANCE.md).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Secure-sessionid"
CSRF_COOKIE_NAME = "__Secure-csrftoken"
# The load balancer probes /healthz over plain HTTP inside the network: answer it instead of redirecting.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# An unreachable database host must fail fast (the health check, a request), not after the kernel's timeout.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT_SECONDS", default=5)

# WhiteNoise serves the collected static files from gunicorn, right after the security middleware.
MIDDLEWARE = [*MIDDLEWARE[:2], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[2:]]

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "vaccine_orders.storage.StaticFilesStorage"},  # WhiteNoise's, URLs kept (storage.py)
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "vaccine_orders.logging.JsonFormatter"}},
    "filters": {"request_id": {"()": "vaccine_orders.logging.RequestIdFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # The per-library levels of base.py (WeasyPrint's rendering steps, fontTools, the SQL log) hold here too.
    "loggers": LOGGING["loggers"],
}
