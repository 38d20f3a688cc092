"""Writing audit events. Call inside the transaction of the change it records."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from vaccine_orders.logging import request_id_var

from .actors import Actor
from .models import AuditEvent


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    pharmacy: Any = None,
    summary: str = "",
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    request_id = request_id_var.get()
    return AuditEvent.objects.create(
        actor=actor.user,
        actor_label=actor.label[:255],
        action=action,
        pharmacy=pharmacy,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:255] if target is not None else "",
        summary=summary,
        before=before,
        after=after,
        request_id="" if request_id == "-" else request_id,
    )
