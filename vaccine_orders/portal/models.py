"""Service-wide switches, news, the record of scheduled jobs, support requests and help documents."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .support import SupportReason
from .validators import validate_help_document


class ServiceSettings(models.Model):
    """The switches SpF staff flip in the admin. A single row (pk = 1)."""

    psc_unavailable = models.BooleanField(
        "Pro Santé Connect indisponible",
        default=False,
        help_text="Ouvre la connexion de secours par code envoyé à l'adresse e-mail vérifiée de l'officine.",
    )
    psc_unavailable_message = models.TextField(
        "message affiché pendant l'indisponibilité de PSC",
        blank=True,
        default="Pro Santé Connect est momentanément indisponible : connectez-vous avec un code reçu par e-mail.",
    )
    read_only = models.BooleanField(
        "mode lecture seule (maintenance)",
        default=False,
        help_text="Les commandes ne peuvent plus être modifiées ; tout le reste reste consultable.",
    )
    read_only_message = models.TextField(
        "message de maintenance",
        blank=True,
        default="Le service est en maintenance : les commandes ne peuvent pas être modifiées pour le moment.",
    )
    pilot_group = models.ForeignKey(
        "sessions_calendar.PilotGroup",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="service réservé au groupe pilote",
        help_text="Avant le lancement : seules les officines de ce groupe accèdent au service.",
    )
    updated_at = models.DateTimeField("modifié le", auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="modifié par",
    )

    class Meta:
        verbose_name = "paramètres du service"
        verbose_name_plural = "paramètres du service"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="service_settings_single_row")]

    def __str__(self) -> str:
        return "Paramètres du service"

    @classmethod
    def load(cls) -> ServiceSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class NewsItem(models.Model):
    """An "actualité": shown on the home page and the news page between its dates; urgent ones as a
    banner on every page."""

    title = models.CharField("titre", max_length=200)
    body = models.TextField("texte")
    starts_at = models.DateTimeField("début de publication", default=timezone.now)
    ends_at = models.DateTimeField("fin de publication", null=True, blank=True)
    is_urgent = models.BooleanField("urgent (bandeau sur toutes les pages)", default=False)
    created_at = models.DateTimeField("créée le", auto_now_add=True)

    class Meta:
        verbose_name = "actualité"
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="news_ends_after_start",
                violation_error_message="La fin de publication doit suivre son début.",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ScheduledJobRun(models.Model):
    """The last run of each scheduled job, shown in the admin and checked by /healthz."""

    class Status(models.TextChoices):
        RUNNING = "running", "En cours"
        SUCCESS = "success", "Réussi"
        FAILED = "failed", "Échec"

    name = models.CharField("tâche", max_length=100, unique=True)
    last_started_at = models.DateTimeField("dernier démarrage", null=True, blank=True)
    last_finished_at = models.DateTimeField("dernière fin", null=True, blank=True)
    last_status = models.CharField("dernier état", max_length=16, choices=Status.choices, blank=True)
    last_error = models.TextField("dernière erreur", blank=True)
    last_summary = models.CharField("dernier résultat", max_length=255, blank=True)

    class Meta:
        verbose_name = "tâche planifiée"
        verbose_name_plural = "tâches planifiées"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SupportRequest(models.Model):
    """A request sent through "Contacter le support", with what was attached to it automatically (the
    officine, its session and order, the error met) and where the support desk stands on it."""

    class Status(models.TextChoices):
        NEW = "new", "Nouvelle"
        IN_PROGRESS = "in_progress", "En cours de traitement"
        ESCALATED = "escalated", "Transmise au niveau 2"
        ANSWERED = "answered", "Répondue"
        CLOSED = "closed", "Close"

    # Waiting for the support desk: these are the queue, and the two-hour clock runs on them.
    OPEN_STATUSES = (Status.NEW, Status.IN_PROGRESS, Status.ESCALATED)

    reference = models.CharField("référence", max_length=16, unique=True)
    status = models.CharField("état", max_length=16, choices=Status.choices, default=Status.NEW)
    reason = models.CharField("motif", max_length=32, choices=SupportReason.choices)
    message = models.TextField("message")
    callback_requested = models.BooleanField("rappel téléphonique demandé", default=False)
    phone = models.CharField("téléphone", max_length=20, blank=True)
    name = models.CharField("nom du demandeur", max_length=150, blank=True)
    email = models.EmailField("adresse e-mail de réponse")
    finess = models.CharField(
        "FINESS",
        max_length=9,
        blank=True,
        help_text="Celui de l'officine connectée, ou celui indiqué (non vérifié) par un demandeur non connecté.",
    )
    error_message = models.TextField("erreur rencontrée", blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="compte du demandeur",
    )
    pharmacy = models.ForeignKey(
        "accounts.Pharmacy",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="support_requests",
        verbose_name="officine (connectée)",
    )
    session = models.ForeignKey(
        "sessions_calendar.OrderSession",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="session en cours",
    )
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_requests",
        verbose_name="commande de la session",
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_support_requests",
        limit_choices_to={"is_staff": True},
        verbose_name="attribuée à",
    )
    created_at = models.DateTimeField("envoyée le", default=timezone.now)
    due_at = models.DateTimeField("réponse attendue avant")
    first_answered_at = models.DateTimeField("première réponse le", null=True, blank=True)
    closed_at = models.DateTimeField("close le", null=True, blank=True)
    acknowledged_at = models.DateTimeField("accusé de réception envoyé le", null=True, blank=True)
    updated_at = models.DateTimeField("modifiée le", auto_now=True)

    class Meta:
        verbose_name = "demande de support"
        verbose_name_plural = "demandes de support"
        ordering = ["due_at"]
        permissions = [
            ("view_pharmacy_file", "Peut consulter le dossier d'une officine (commandes, effecteurs) en lecture seule"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(callback_requested=False) | ~Q(phone=""),
                name="support_callback_needs_phone",
                violation_error_message="Un rappel téléphonique demande un numéro de téléphone.",
            ),
            models.CheckConstraint(
                condition=Q(due_at__gte=F("created_at")),
                name="support_due_after_creation",
            ),
            models.CheckConstraint(
                condition=Q(status="closed") | Q(closed_at__isnull=True),
                name="support_closed_at_only_when_closed",
            ),
        ]
        indexes = [
            # Serves the support desk's queue: open requests, the most urgent first.
            models.Index(
                fields=["due_at"],
                condition=Q(status__in=["new", "in_progress", "escalated"]),
                name="support_open_queue_idx",
            ),
            # Serves "Mes demandes": one officine's requests, newest first.
            models.Index(fields=["pharmacy", "-created_at"], name="support_pharmacy_idx"),
        ]

    def __str__(self) -> str:
        return self.reference

    def is_overdue(self, *, at: datetime) -> bool:
        """Still waiting for its first answer after the two-hour clock ran out."""
        return self.status in self.OPEN_STATUSES and self.first_answered_at is None and self.due_at < at

    @property
    def requester_label(self) -> str:
        if self.pharmacy_id:
            return str(self.pharmacy)
        return self.name or self.email


class SupportMessage(models.Model):
    """What the support desk writes on a request: a reply (e-mailed to the requester, shown under "Mes
    demandes") or an internal note (support only, never shown to the officine)."""

    class Kind(models.TextChoices):
        REPLY = "reply", "Réponse au demandeur"
        NOTE = "note", "Note interne"

    request = models.ForeignKey(
        SupportRequest, on_delete=models.CASCADE, related_name="messages", verbose_name="demande"
    )
    kind = models.CharField("nature", max_length=8, choices=Kind.choices)
    body = models.TextField("texte")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="agent",
    )
    author_label = models.CharField("auteur", max_length=255)
    created_at = models.DateTimeField("écrit le", default=timezone.now)
    emailed_at = models.DateTimeField("envoyé par e-mail le", null=True, blank=True)

    class Meta:
        verbose_name = "message du support"
        verbose_name_plural = "messages du support"
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="reply") | Q(emailed_at__isnull=True),
                name="support_note_never_emailed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request.reference} – {self.get_kind_display()}"


def help_document_upload_to(instance: HelpDocument, filename: str) -> str:
    # The uploaded name is never used on disk: no path tricks, no collisions.
    return f"guides/{uuid.uuid4().hex}.pdf"


class HelpDocument(models.Model):
    """A guide uploaded by SpF (PDF), listed on "Besoin d'aide ?" and served by a view."""

    title = models.CharField("titre", max_length=200)
    description = models.CharField("description", max_length=300, blank=True)
    file = models.FileField(
        "fichier PDF",
        upload_to=help_document_upload_to,
        validators=[validate_help_document],
        help_text="Un fichier PDF de 10 Mo au plus.",
    )
    size = models.PositiveIntegerField("taille (octets)", default=0, editable=False)
    is_published = models.BooleanField("publié", default=True)
    sort_order = models.PositiveSmallIntegerField("ordre", default=0)
    updated_at = models.DateTimeField("modifié le", auto_now=True)

    class Meta:
        verbose_name = "guide téléchargeable"
        verbose_name_plural = "guides téléchargeables"
        ordering = ["sort_order", "title"]

    def __str__(self) -> str:
        return self.title
