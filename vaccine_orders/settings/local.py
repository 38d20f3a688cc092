"""Development: `make run`. SQLite unless DATABASE_URL is set, Celery eager unless REDIS_URL is set."""

from __future__ import annotations

import os

# Read before base.py so that a developer gets DEBUG and a throwaway key without any set-up.
os.environ.setdefault("DJANGO_DEBUG", "true")
# The local demo PSC provider started by `make run` (rundemo) unless PSC_SERVER_URL points elsewhere; it accepts
# any client id and secret.
os.environ.setdefault("PSC_SERVER_URL", f"http://localhost:{os.environ.get('DEMO_PSC_PORT', '8001')}")
os.environ.setdefault("PSC_CLIENT_ID", "commande-vaccins-demo")
os.environ.setdefault("PSC_CLIENT_SECRET", "demo-secret")

from .base import *  # noqa: F403
from .base import DEBUG, SECRET_KEY, env

SECRET_KEY = SECRET_KEY or "dev-only-insecure-key-never-used-in-production"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
# The local demo PSC provider (`make run`) listens here unless PSC_SERVER_URL says otherwise.
DEMO_PSC_PORT = env.int("DEMO_PSC_PORT", default=8001)
# Demo agents (seed_demo) type this TOTP code instead of one from an authenticator app. allauth refuses the
# setting outside DEBUG, so it can never reach production.
if DEBUG:
    MFA_TOTP_INSECURE_BYPASS_CODE = env("DEMO_TOTP_CODE", default="000000")
