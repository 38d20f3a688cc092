# Commande de vaccins — one image for web (gunicorn), worker and beat (Celery).
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    PATH="/opt/venv/bin:$PATH" \
    DJANGO_SETTINGS_MODULE=vaccine_orders.settings.production

# Pango and HarfBuzz for WeasyPrint, fonts for the PDFs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
    fontconfig fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .
# collectstatic needs settings that load; the real values come from the environment at run time.
RUN SECRET_KEY=build DATABASE_URL=sqlite:///tmp/build.sqlite3 REDIS_URL=redis://build:6379/0 \
    ALLOWED_HOSTS=build EMAIL_URL=consolemail:// PSC_SERVER_URL=https://build PSC_CLIENT_ID=build \
    PSC_CLIENT_SECRET=build python manage.py collectstatic --noinput

RUN useradd --system --uid 1000 --home /app app && mkdir -p /app/var/media && chown -R app /app/var
USER app
EXPOSE 8000
CMD ["gunicorn", "vaccine_orders.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "5", "--timeout", "60"]
