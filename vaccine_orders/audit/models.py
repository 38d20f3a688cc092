"""One row per state change: who, when, what, before and after. Written in the same transaction."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    created_at = models.DateTimeField("date", default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="compte",
    )
    actor_label = models.CharField(
        "auteur",
        max_length=255,
        help_text="L'identité qui a agi : pharmacien (PSC), connexion par code, agent, système.",
    )
    action = models.CharField("action", max_length=64)  # indexed with the date below (the admin's filter)
    pharmacy = models.ForeignKey(
        "accounts.Pharmacy",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
        verbose_name="officine concernée",
        db_index=False,  # audit_pharmacy_idx (pharmacy, -created_at) serves it: one index less per event written
    )
    target_type = models.ForeignKey(
        ContentType,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="type d'objet",
        db_index=False,  # audit_target_idx (target_type, target_id, -created_at) serves it
    )
    target_id = models.CharField("identifiant de l'objet", max_length=64, blank=True)
    target_repr = models.CharField("objet", max_length=255, blank=True)
    summary = models.TextField("résumé", blank=True)
    before = models.JSONField("avant", null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField("après", null=True, blank=True, encoder=DjangoJSONEncoder)
    request_id = models.CharField("requête", max_length=64, blank=True)

    class Meta:
        verbose_name = "événement d'audit"
        verbose_name_plural = "journal d'audit"
        ordering = ["-created_at", "-id"]
        indexes = [
            # Serves "Historique des modifications" of one order and the admin's object history.
            models.Index(fields=["target_type", "target_id", "-created_at"], name="audit_target_idx"),
            # Serves a pharmacy's own history and support's read log.
            models.Index(fields=["pharmacy", "-created_at"], name="audit_pharmacy_idx"),
            # Rather than db_index=True, which adds a LIKE-pattern twin nobody queries.
            models.Index(fields=["action", "-created_at"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_repr}"
