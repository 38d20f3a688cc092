"""The retention of personal data: what the "Données personnelles" page promises, done every night.

- the journal of changes (orders, effectors, accounts, confirmations, settings): AUDIT_RETENTION_DAYS (3 years);
- the journal of consultations and logins (support reads of an officine's file, report exports, logins and refused
  logins): AUDIT_ACCESS_LOG_RETENTION_DAYS (1 year);
- support requests, with their messages, once answered or closed and untouched for SUPPORT_RETENTION_DAYS (1 year),
  and the journal of the support desk's actions on them, after the same time. Open requests are never purged.

Orders themselves are not personal data of a person (an officine's orders of state stock) and are kept.
Deletions go in batches, each in its own short transaction, so that the nightly job never holds long locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q

from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.audit.services import audit_record

from .models import SupportRequest

BATCH_SIZE = 2000

# Journal entries that record a consultation or a login rather than a change.
ACCESS_LOG_ACTIONS = frozenset({"accounts.login", "accounts.login_refused", "report.exported"})
ACCESS_LOG = Q(action__in=ACCESS_LOG_ACTIONS) | Q(action__endswith="_viewed")
SUPPORT_LOG = Q(action__startswith="support.") & ~ACCESS_LOG
CHANGES = ~ACCESS_LOG & ~SUPPORT_LOG
FINISHED_SUPPORT_STATUSES = (SupportRequest.Status.ANSWERED, SupportRequest.Status.CLOSED)


@dataclass(frozen=True)
class PurgeResult:
    audit_changes: int
    audit_access_log: int
    audit_support_log: int
    support_requests: int
    support_messages: int

    @property
    def total(self) -> int:
        return (
            self.audit_changes
            + self.audit_access_log
            + self.audit_support_log
            + self.support_requests
            + self.support_messages
        )

    @property
    def summary(self) -> str:
        return (
            f"Journal : {self.audit_changes} modification(s), {self.audit_access_log} consultation(s) ou "
            f"connexion(s), {self.audit_support_log} action(s) du support ; demandes de support : "
            f"{self.support_requests} (et {self.support_messages} message(s))."
        )


def _delete_in_batches(queryset: models.QuerySet, *, batch_size: int) -> dict[str, int]:
    """Delete every row of `queryset`, `batch_size` at a time; returns the rows deleted per model label."""
    deleted: dict[str, int] = {}
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            _, per_model = queryset.model.objects.filter(pk__in=ids).delete()
        for label, count in per_model.items():
            deleted[label] = deleted.get(label, 0) + count


def retention_cutoffs(*, now: datetime) -> dict[str, datetime]:
    return {
        "changes": now - timedelta(days=settings.AUDIT_RETENTION_DAYS),
        "access_log": now - timedelta(days=settings.AUDIT_ACCESS_LOG_RETENTION_DAYS),
        "support": now - timedelta(days=settings.SUPPORT_RETENTION_DAYS),
    }


def personal_data_purge(*, now: datetime, batch_size: int = BATCH_SIZE) -> PurgeResult:
    """Delete what is older than its retention period (see the module's docstring) and journal the counts.

    Idempotent: a second run the same night finds nothing more to delete.
    """
    cutoff = retention_cutoffs(now=now)
    events = AuditEvent.objects.all()
    changes = _delete_in_batches(events.filter(CHANGES, created_at__lt=cutoff["changes"]), batch_size=batch_size)
    access = _delete_in_batches(events.filter(ACCESS_LOG, created_at__lt=cutoff["access_log"]), batch_size=batch_size)
    support_log = _delete_in_batches(
        events.filter(SUPPORT_LOG, created_at__lt=cutoff["support"]), batch_size=batch_size
    )
    support = _delete_in_batches(
        SupportRequest.objects.filter(status__in=FINISHED_SUPPORT_STATUSES, updated_at__lt=cutoff["support"]),
        batch_size=batch_size,
    )
    audit_label = AuditEvent._meta.label
    result = PurgeResult(
        audit_changes=changes.get(audit_label, 0),
        audit_access_log=access.get(audit_label, 0),
        audit_support_log=support_log.get(audit_label, 0),
        support_requests=support.get(SupportRequest._meta.label, 0),
        support_messages=support.get("portal.SupportMessage", 0),
    )
    if result.total:
        with transaction.atomic():
            audit_record(
                actor=Actor.system("Purge planifiée des données personnelles"),
                action="retention.purged",
                summary=result.summary,
                after={
                    "audit_changes": result.audit_changes,
                    "audit_access_log": result.audit_access_log,
                    "audit_support_log": result.audit_support_log,
                    "support_requests": result.support_requests,
                    "support_messages": result.support_messages,
                    "cutoffs": {name: instant.isoformat() for name, instant in cutoff.items()},
                },
            )
    return result
