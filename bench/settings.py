"""Settings of the server `make bench` starts: production settings, plus the bench-only URLs (the bare
view used as the floor). Never used outside the benchmark."""

from vaccine_orders.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
