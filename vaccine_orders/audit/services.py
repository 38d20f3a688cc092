"""Writing audit events. Call inside the transaction of the change it records."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from vaccine_orders.logging import request_id_var
from vaccine_orders.precompiled import PrecompiledInsert

from .actors import Actor
from .models import AuditEvent

# Every change writes one: through an INSERT written once, not the ORM's create() (precompiled.py says why).
_INSERT = PrecompiledInsert(AuditEvent)


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
    return _INSERT.create(
        {
            "actor_id": actor.user.pk if actor.user is not None else None,
            "actor_label": actor.label[:255],
            "action": action,
            "pharmacy_id": pharmacy.pk if pharmacy is not None else None,
            "target_type_id": ContentType.objects.get_for_model(target).pk if target is not None else None,
            "target_id": str(target.pk) if target is not None else "",
            "target_repr": str(target)[:255] if target is not None else "",
            "summary": summary,
            "before": before,
            "after": after,
            "request_id": "" if request_id == "-" else request_id,
        }
    )
