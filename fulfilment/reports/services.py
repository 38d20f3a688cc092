"""What the reports change: the agents' subscriptions, the stored daily reports (generated, announced,
purged), and the journal of downloads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Region, User
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record

from .errors import ReportError
from .exports import Table, csv_temporary_file, xlsx_temporary_file
from .models import DailyReport, ReportSubscription
from .selectors import (
    PARIS,
    ReportPeriod,
    ReportScope,
    ReportSpec,
    daily_reports_oldest_day,
    report_headers,
    report_queryset,
    report_row,
    report_totals,
    visible_session_ids,
)

logger = logging.getLogger(__name__)

# The ARS asked for "les commandes par type de professionnel de santé" (seed 000); the product stays a
# column because vials of different vaccines, or boxes of syringes, do not add up.
DAILY_DIMENSIONS = ("type", "product")
# A worker down for a few days: the next run fills the missing days (existing ones are left as they are).
DAILY_CATCH_UP_DAYS = 7


# --- Subscriptions ------------------------------------------------------------------------------------


def subscription_set(*, user: User, subscribed: bool, actor: Actor) -> bool:
    """Subscribe an ARS agent to their region's daily report e-mail, or unsubscribe. Returns whether
    anything changed. Only agents bound to a region with an e-mail address may subscribe."""
    if subscribed and not getattr(user, "region_id", None):
        raise ReportError("not_an_ars_agent")
    if subscribed and not user.email:
        raise ReportError("no_email")
    with transaction.atomic():
        if subscribed:
            _, changed = ReportSubscription.objects.get_or_create(user=user)
        else:
            changed = ReportSubscription.objects.filter(user=user).delete()[0] > 0
        if changed:
            audit_record(
                actor=actor,
                action="report.subscribed" if subscribed else "report.unsubscribed",
                target=user,
                summary="Abonnement au rapport quotidien" + (" activé." if subscribed else " désactivé."),
                before={"subscribed": not subscribed},
                after={"subscribed": subscribed},
            )
    return changed


def is_subscribed(*, user: User) -> bool:
    return ReportSubscription.objects.filter(user=user).exists()


# --- Daily reports ------------------------------------------------------------------------------------


def daily_report_spec(*, day: date, region: Region, at: datetime) -> ReportSpec:
    scope = ReportScope(restricted_region_id=region.pk, region=region)
    return ReportSpec(scope=scope, period=ReportPeriod.for_day(day), dimensions=DAILY_DIMENSIONS, at=at)


def daily_report_tables(*, spec: ReportSpec, region: Region, day: date) -> tuple[Table, Table, int, int]:
    """The report's table (rows then the total) and the workbook's "about" sheet; also the totals
    (orders, doses ordered) kept on the row for the list."""
    visible = visible_session_ids(at=spec.at)
    rows = [report_row(spec, values) for values in report_queryset(spec, visible_ids=visible)]
    totals = report_totals(spec, visible_ids=visible)
    with_quantities = spec.shows_quantities
    data = [row.values(with_quantities=with_quantities) for row in rows]
    data.append(totals.values(with_quantities=with_quantities))
    table = Table(title="Rapport", headers=report_headers(spec), rows=data)
    about = Table(
        title="À propos",
        headers=["Rubrique", "Valeur"],
        rows=[
            ("Rapport", "Commandes par type de professionnel de santé et par produit"),
            ("Région", region.name),
            ("Jour", f"Commandes validées le {day:%d/%m/%Y} (heure de Paris)"),
            ("Généré le", timezone.localtime(spec.at, PARIS).strftime("%d/%m/%Y à %H:%M")),
            (
                "Quantités confirmées",
                "Affichées seulement après la publication des confirmations de la session "
                "(habituellement le mercredi à 18 h).",
            ),
        ],
        widths={0: 24, 1: 90},
    )
    return table, about, totals.orders, totals.ordered_doses or 0


def _delete_files(report: DailyReport) -> None:
    for field_file in (report.csv_file, report.xlsx_file):
        if field_file and field_file.name:
            field_file.storage.delete(field_file.name)


def _existing_report(*, day: date, region: Region) -> DailyReport | None:
    return DailyReport.objects.filter(day=day, region=region).first()


def daily_report_generate(*, day: date, region: Region, at: datetime) -> tuple[DailyReport, bool]:
    """Generate and store the report of `day` for `region`. Idempotent: an existing report is returned
    untouched. Two runs at once (a doubled beat, a retry) both build the files, but the unique key
    (day, region) keeps one row: the loser deletes its files and returns the winner's report."""
    existing = _existing_report(day=day, region=region)
    if existing is not None:
        return existing, False
    spec = daily_report_spec(day=day, region=region, at=at)
    table, about, orders, doses = daily_report_tables(spec=spec, region=region, day=day)
    report = DailyReport(day=day, region=region, generated_at=at, order_count=orders, doses_ordered=doses)
    name = f"rapport-quotidien-{region.code}-{day:%Y%m%d}"
    csv_handle = csv_temporary_file(table)  # its rows are a list: the workbook reads them again
    xlsx_handle = xlsx_temporary_file([table, about])
    try:
        report.csv_file.save(f"{name}.csv", File(csv_handle), save=False)
        report.xlsx_file.save(f"{name}.xlsx", File(xlsx_handle), save=False)
        with transaction.atomic():
            report.save()
    except IntegrityError:
        _delete_files(report)
        return DailyReport.objects.get(day=day, region=region), False
    except BaseException:
        _delete_files(report)
        raise
    finally:
        csv_handle.close()
        xlsx_handle.close()
    return report, True


def _daily_report_message(*, report: DailyReport, email: str, connection) -> EmailMultiAlternatives:
    context = {
        "report": report,
        "list_url": settings.SITE_URL + reverse("reports:daily_list"),
        "xlsx_url": settings.SITE_URL + reverse("reports:daily_download", args=[report.pk, "xlsx"]),
        "csv_url": settings.SITE_URL + reverse("reports:daily_download", args=[report.pk, "csv"]),
        "service_name": settings.SERVICE_NAME,
    }
    message = EmailMultiAlternatives(
        subject=f"{settings.EMAIL_SUBJECT_PREFIX}Rapport quotidien du {report.day:%d/%m/%Y} – {report.region.name}",
        body=render_to_string("reports/email/daily_report.txt", context),
        to=[email],
        connection=connection,
    )
    message.attach_alternative(render_to_string("reports/email/daily_report.html", context), "text/html")
    return message


def _claim_notification(*, report: DailyReport, at: datetime) -> bool:
    """Claim the right to announce `report`: a conditional UPDATE, so that two runs of the job never both
    send (the database settles it, whatever the number of workers)."""
    return DailyReport.objects.filter(pk=report.pk, notified_at__isnull=True).update(notified_at=at) == 1


def daily_report_notify(*, report: DailyReport, at: datetime) -> int:
    """E-mail the link of `report` to the agents of its region who subscribed (one message each: they do
    not see each other's address). Returns the number of messages sent; 0 if it was already announced.
    If sending fails, the claim is released so that the next run tries again."""
    if not _claim_notification(report=report, at=at):
        return 0
    recipients = list(
        get_user_model()
        .objects.filter(report_subscription__isnull=False, region_id=report.region_id, is_active=True)
        .exclude(email="")
        .order_by("pk")
        .values_list("email", flat=True)
    )
    if not recipients:
        return 0
    try:
        connection = get_connection(fail_silently=False)
        messages = [_daily_report_message(report=report, email=email, connection=connection) for email in recipients]
        connection.send_messages(messages)
    except Exception:
        DailyReport.objects.filter(pk=report.pk).update(notified_at=None)
        raise
    return len(messages)


def daily_report_renotify(*, report: DailyReport, at: datetime) -> int:
    """Send the e-mail of `report` again (SpF, from the admin): releases the claim, then notifies."""
    DailyReport.objects.filter(pk=report.pk).update(notified_at=None)
    return daily_report_notify(report=report, at=at)


def daily_reports_purge(*, today: date) -> int:
    """Delete the reports older than 90 days, rows and files. Returns how many."""
    purged = 0
    for report in DailyReport.objects.filter(day__lt=daily_reports_oldest_day(today=today)).iterator():
        DailyReport.objects.filter(pk=report.pk).delete()
        _delete_files(report)
        purged += 1
    return purged


@dataclass(frozen=True)
class DailyRunSummary:
    generated: int
    notified: int
    purged: int

    def __str__(self) -> str:
        return (
            f"{self.generated} rapport(s) généré(s), {self.notified} e-mail(s) envoyé(s), "
            f"{self.purged} rapport(s) de plus de 90 jours supprimé(s)"
        )


def daily_reports_run(*, at: datetime, catch_up_days: int = DAILY_CATCH_UP_DAYS) -> DailyRunSummary:
    """The morning job: the previous day's report of every region (and any missing one of the days before,
    within `catch_up_days`), the e-mails of those not yet announced, then the purge."""
    today = timezone.localtime(at, PARIS).date()
    days = [today - timedelta(days=n) for n in range(catch_up_days, 0, -1)]
    regions = list(Region.objects.order_by("code"))
    generated = 0
    for day in days:
        for region in regions:
            _, created = daily_report_generate(day=day, region=region, at=at)
            generated += created
    notified = 0
    pending = DailyReport.objects.select_related("region").filter(notified_at__isnull=True, day__gte=days[0])
    for report in pending.order_by("day", "region__code"):
        notified += daily_report_notify(report=report, at=at)
    purged = daily_reports_purge(today=today)
    return DailyRunSummary(generated=generated, notified=notified, purged=purged)


# --- The journal of downloads -------------------------------------------------------------------------


def export_record(*, actor: Actor, what: str, scope: ReportScope, period: ReportPeriod, file_format: str) -> None:
    """Downloads leave the service with officines' figures and contact details: each one is journaled."""
    audit_record(
        actor=actor,
        action="report.exported",
        summary=f"{what} ({file_format.upper()}) – {scope.label} – {period.label}",
        after={"what": what, "format": file_format, "scope": scope.slug, "period": period.slug},
    )
