from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """ARS and national reports: on-screen tables and charts, streamed exports, daily reports per region."""

    name = "fulfilment.reports"
    label = "reports"
    verbose_name = "Rapports ARS et nationaux"
