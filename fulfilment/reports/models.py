"""What the reports keep: the stored daily report of each region and the agents who asked to receive it.

The figures themselves are never stored apart from the order lines: every report is computed from
`orders.OrderLine` when it is asked for (the daily report is that computation, run each morning and kept
as files for 90 days).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


def daily_report_upload_to(instance: DailyReport, filename: str) -> str:
    # Private files: served only by the reports views after the region check, never from a media URL.
    return f"reports/daily/{instance.region.code}/{filename}"


class DailyReport(models.Model):
    """The report of one day's orders for one region, by type of professional and product, generated
    each morning for the previous day. One per day and region (the job may run twice: DST, a retry)."""

    day = models.DateField("jour des commandes")
    region = models.ForeignKey("accounts.Region", on_delete=models.PROTECT, related_name="+", verbose_name="région")
    generated_at = models.DateTimeField("généré le")
    csv_file = models.FileField("fichier CSV", upload_to=daily_report_upload_to, max_length=255)
    xlsx_file = models.FileField("fichier XLSX", upload_to=daily_report_upload_to, max_length=255)
    order_count = models.PositiveIntegerField("commandes", default=0)
    doses_ordered = models.PositiveBigIntegerField("doses commandées", default=0)
    notified_at = models.DateTimeField(
        "e-mails envoyés le",
        null=True,
        blank=True,
        help_text="Réservé avant l'envoi : une seconde exécution du travail n'envoie rien deux fois.",
    )

    class Meta:
        verbose_name = "rapport quotidien"
        verbose_name_plural = "rapports quotidiens"
        ordering = ["-day", "region__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "region"],
                name="daily_report_one_per_day_and_region",
                violation_error_message="Le rapport de ce jour existe déjà pour cette région.",
            ),
        ]
        indexes = [
            # Serves the agents' list: the last 90 days of one region, newest first.
            models.Index(fields=["region", "-day"], name="daily_report_region_day_idx"),
        ]

    def __str__(self) -> str:
        return f"Rapport du {self.day:%d/%m/%Y} – {self.region}"


class ReportSubscription(models.Model):
    """An ARS agent who receives the e-mail of their region's daily report."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="report_subscription",
        verbose_name="agent",
    )
    created_at = models.DateTimeField("abonné le", auto_now_add=True)

    class Meta:
        verbose_name = "abonnement au rapport quotidien"
        verbose_name_plural = "abonnements au rapport quotidien"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Abonnement de {self.user}"
