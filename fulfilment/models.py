"""Confirmation, delivery and mailing records.

The requested, confirmed and delivered quantities themselves are columns of `orders.OrderLine`; this app
keeps what is around them: the delivery dates of a session (overridable per region), the publication
record, the PDF summary of each order, the logistics exports and the outbox of the Friday mailing.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from sessions_calendar.models import OrderSession
from vaccine_orders.orders.models import OrderLine


class SessionFulfilment(models.Model):
    """What logistics decides for a whole session once it has closed, and what the scheduled jobs did."""

    session = models.OneToOneField(
        "sessions_calendar.OrderSession",
        on_delete=models.CASCADE,
        related_name="fulfilment",
        verbose_name="session",
    )
    delivery_date = models.DateField(
        "date de livraison prévue",
        null=True,
        blank=True,
        help_text="Pour toutes les régions sauf celles qui ont leur propre date. À défaut : la fin de la "
        "livraison indicative du calendrier.",
    )
    published_at = models.DateTimeField(
        "publication traitée le",
        null=True,
        blank=True,
        help_text="Quand la tâche de publication a préparé les récapitulatifs PDF. La visibilité des "
        "confirmations ne dépend que de l'instant de publication de la session.",
    )
    mailing_prepared_at = models.DateTimeField("publipostage préparé le", null=True, blank=True)
    updated_at = models.DateTimeField("modifié le", auto_now=True)

    class Meta:
        verbose_name = "suivi de session"
        verbose_name_plural = "suivis de session"

    def __str__(self) -> str:
        return f"Suivi – {self.session}"


class RegionalDeliveryDate(models.Model):
    """A delivery date that replaces the session's date for the officines of one region."""

    fulfilment = models.ForeignKey(
        SessionFulfilment, on_delete=models.CASCADE, related_name="regional_dates", verbose_name="suivi de session"
    )
    region = models.ForeignKey("accounts.Region", on_delete=models.PROTECT, related_name="+", verbose_name="région")
    delivery_date = models.DateField("date de livraison prévue")

    class Meta:
        verbose_name = "date de livraison régionale"
        verbose_name_plural = "dates de livraison régionales"
        ordering = ["region__name"]
        constraints = [
            models.UniqueConstraint(fields=["fulfilment", "region"], name="regional_delivery_date_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.region} : {self.delivery_date:%d/%m/%Y}"


def summary_upload_to(instance: OrderSummary, filename: str) -> str:
    return f"fulfilment/summaries/{instance.order.session_id}/{filename}"


class OrderSummary(models.Model):
    """The stored PDF summary of an order. `content_hash` is the hash of the data it shows: when the
    confirmation (or the delivery date, or the template) changes, the hash differs and the PDF is
    rendered again; until then the stored file is served as is."""

    order = models.OneToOneField(
        "orders.Order", on_delete=models.CASCADE, related_name="summary", verbose_name="commande"
    )
    content_hash = models.CharField("empreinte du contenu", max_length=64)
    file = models.FileField("fichier", upload_to=summary_upload_to, max_length=255)
    size = models.PositiveIntegerField("taille (octets)", default=0)
    page_count = models.PositiveSmallIntegerField("pages", default=0)
    render_ms = models.PositiveIntegerField(
        "durée de production (ms)", default=0, help_text="Lecture de la commande, rendu et stockage."
    )
    rendered_at = models.DateTimeField("produit le", default=timezone.now)

    class Meta:
        verbose_name = "récapitulatif PDF"
        verbose_name_plural = "récapitulatifs PDF"

    def __str__(self) -> str:
        return f"Récapitulatif {self.order_id} ({self.content_hash[:8]})"


def export_upload_to(instance: LogisticsExport, filename: str) -> str:
    return f"fulfilment/exports/{instance.session_id}/{filename}"


class LogisticsExport(models.Model):
    """One CSV of a session's confirmed lines for the logistics provider. A re-export is a new row
    (next sequence number); earlier files are kept."""

    class State(models.TextChoices):
        PENDING = "pending", "En préparation"
        GENERATED = "generated", "Généré"
        SENT = "sent", "Envoyé"
        FAILED = "failed", "En échec"

    session = models.ForeignKey(
        "sessions_calendar.OrderSession",
        on_delete=models.PROTECT,
        related_name="logistics_exports",
        verbose_name="session",
    )
    sequence = models.PositiveSmallIntegerField("numéro d'export")
    state = models.CharField("état", max_length=16, choices=State.choices, default=State.PENDING)
    file = models.FileField("fichier", upload_to=export_upload_to, max_length=255, blank=True)
    row_count = models.PositiveIntegerField("lignes", default=0)
    sha256 = models.CharField("empreinte SHA-256", max_length=64, blank=True)
    error = models.TextField("erreur", blank=True)
    created_at = models.DateTimeField("demandé le", default=timezone.now)
    created_by_label = models.CharField("demandé par", max_length=255, blank=True)
    generated_at = models.DateTimeField("généré le", null=True, blank=True)
    sent_at = models.DateTimeField("envoyé le", null=True, blank=True)
    sent_to = models.CharField("envoyé à", max_length=255, blank=True)

    class Meta:
        verbose_name = "export logistique"
        verbose_name_plural = "exports logistiques"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "sequence"], name="logistics_export_unique_sequence"),
            models.CheckConstraint(
                condition=~Q(state__in=["generated", "sent"]) | ~Q(file=""),
                name="logistics_export_file_when_generated",
            ),
        ]

    def __str__(self) -> str:
        return f"Export n° {self.sequence} – {self.session}"


class OutboxMessage(models.Model):
    """One e-mail of the Friday mailing: one row per recipient and session, whose `key` is unique, so that
    preparing the mailing twice creates nothing. Rows are claimed by conditional UPDATE before sending.

    Life cycle: pending → queued (in a batch task) → sending (claimed by a worker) → sent, or back to
    pending with a later `next_attempt_at` (transient failure), or failed (permanent, listed in the admin
    with a resend action)."""

    class Kind(models.TextChoices):
        PHARMACY = "pharmacy", "Officine"
        PROFESSIONAL = "professional", "Professionnel de santé"

    class Status(models.TextChoices):
        PENDING = "pending", "À envoyer"
        QUEUED = "queued", "En file"
        SENDING = "sending", "En cours d'envoi"
        SENT = "sent", "Envoyé"
        FAILED = "failed", "En échec"

    key = models.CharField("clé d'unicité", max_length=80, unique=True)
    session = models.ForeignKey(
        "sessions_calendar.OrderSession", on_delete=models.CASCADE, related_name="outbox", verbose_name="session"
    )
    kind = models.CharField("destinataire", max_length=16, choices=Kind.choices)
    pharmacy = models.ForeignKey(
        "accounts.Pharmacy",
        on_delete=models.CASCADE,
        related_name="outbox_messages",
        verbose_name="officine",
        help_text="L'officine destinataire, ou celle où le professionnel retire ses flacons.",
    )
    professional = models.ForeignKey(
        "effectors.Professional",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="outbox_messages",
        verbose_name="professionnel",
    )
    email = models.EmailField("adresse", blank=True)
    status = models.CharField("état", max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField("tentatives", default=0)
    reclaims = models.PositiveSmallIntegerField(
        "reprises",
        default=0,
        help_text="Envois repris après l'arrêt brutal d'un worker : un doublon est possible pour ce message.",
    )
    next_attempt_at = models.DateTimeField("prochaine tentative", default=timezone.now)
    queued_at = models.DateTimeField("mis en file le", null=True, blank=True)
    claimed_at = models.DateTimeField("pris en charge le", null=True, blank=True)
    claim_token = models.UUIDField("jeton de prise en charge", null=True, blank=True)
    sent_at = models.DateTimeField("envoyé le", null=True, blank=True)
    message_id = models.CharField("Message-ID", max_length=255, blank=True)
    last_error = models.TextField("dernière erreur", blank=True)
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    updated_at = models.DateTimeField("modifié le", auto_now=True)

    class Meta:
        verbose_name = "message du publipostage"
        verbose_name_plural = "messages du publipostage"
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="pharmacy", professional__isnull=True)
                | Q(kind="professional", professional__isnull=False),
                name="outbox_professional_matches_kind",
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="outbox_sent_has_time",
            ),
        ]
        indexes = [
            # Serves the dispatcher: "pending rows due now", oldest first.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="outbox_pending_due_idx",
            ),
            # Serves the sweep of stale claims and queued rows, and the progress count per session.
            models.Index(fields=["status", "session"], name="outbox_status_session_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.email or '(sans adresse)'} – {self.session}"


# --- Admin entry points (proxies: no table of their own) ------------------------------------------


class SessionConfirmation(OrderSession):
    """A session seen by logistics: its confirmation, delivery dates, export, publication and mailing."""

    class Meta:
        proxy = True
        verbose_name = "confirmation de session"
        verbose_name_plural = "confirmations par session"


class ConfirmationLine(OrderLine):
    """An order line seen by logistics: confirm, reduce with a reason, mark delivered."""

    class Meta:
        proxy = True
        verbose_name = "ligne à confirmer"
        verbose_name_plural = "lignes à confirmer ou livrer"
