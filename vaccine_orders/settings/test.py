"""Tests: SQLite in memory unless DATABASE_URL is set (CI sets it to the local PostgreSQL)."""

from __future__ import annotations

import os

os.environ.setdefault("DATABASE_URL", "sqlite://:memory:")

from .base import *  # noqa: F403
from .base import DATABASES, env

SECRET_KEY = "test-only-secret-key"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DSFR_USE_INTEGRITY_CHECKSUMS = False

# Each test starts with an empty cache: rate limits and discovery caches must not leak between tests.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Tests keep sessions in the database whatever REDIS_URL says: the cache above is per process and cleared
# between tests. The production choice (sessions in Redis) is checked in tests/test_settings.py.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# Tasks are not run eagerly by default: a test that needs one runs it on purpose (the `run_tasks`
# fixture, or a real worker for the mailing). Enqueued messages go to an in-memory broker.
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = "memory://"

# Where the Redis-backed tests point (they are marked `redis` and use their own database number).
TEST_REDIS_URL = env("REDIS_URL", default="")

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default=None)}

MEDIA_ROOT = str(__import__("tempfile").mkdtemp(prefix="cv-test-media-"))
