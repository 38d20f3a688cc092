"""WSGI entry point (gunicorn vaccine_orders.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vaccine_orders.settings.production")

application = get_wsgi_application()
