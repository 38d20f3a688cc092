"""ASGI entry point, kept for parity with WSGI; the service is served by gunicorn (WSGI)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vaccine_orders.settings.production")

application = get_asgi_application()
