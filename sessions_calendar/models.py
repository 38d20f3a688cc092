"""Ordering windows, what each one offers, the caps per effector type, national stocks, pilot groups."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import F, Q
from django.utils import formats, timezone


class PilotGroup(models.Model):
    """Officines chosen with the ARS to try a session, or the whole service, before everyone else."""

    name = models.CharField("nom", max_length=100, unique=True)
    description = models.TextField("description", blank=True)
    pharmacies = models.ManyToManyField(
        "accounts.Pharmacy", related_name="pilot_groups", blank=True, verbose_name="officines"
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)

    class Meta:
        verbose_name = "groupe pilote"
        verbose_name_plural = "groupes pilotes"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OrderSession(models.Model):
    """One ordering window ("session de commande"), usually Monday 08:00 to Tuesday 23:00, Paris time.

    A week without ordering (the summer calendar) is kept as a session flagged `is_closed_week`, so that
    the published calendar shows it as "Fermé".
    """

    opens_at = models.DateTimeField("ouverture")
    closes_at = models.DateTimeField("fermeture")
    confirmation_published_at = models.DateTimeField(
        "publication des confirmations",
        null=True,
        blank=True,
        help_text="Habituellement le mercredi à 18 h : les officines voient alors les quantités confirmées.",
    )
    delivery_start = models.DateField("livraison indicative du", null=True, blank=True)
    delivery_end = models.DateField("livraison indicative au", null=True, blank=True)
    is_closed_week = models.BooleanField(
        "semaine fermée",
        default=False,
        help_text="Le portail est fermé cette semaine-là (calendrier publié).",
    )
    pilot_group = models.ForeignKey(
        PilotGroup,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sessions",
        verbose_name="réservée au groupe pilote",
        help_text="Si renseigné, seules les officines de ce groupe peuvent commander.",
    )
    holiday_note = models.CharField(
        "jour férié",
        max_length=255,
        blank=True,
        help_text="Affiché sur le calendrier publié (ex. : « Lundi de Pentecôte : ouverture décalée au mardi »).",
    )
    notes = models.TextField("notes internes", blank=True)
    created_at = models.DateTimeField("créée le", auto_now_add=True)
    updated_at = models.DateTimeField("modifiée le", auto_now=True)

    class Meta:
        verbose_name = "session de commande"
        verbose_name_plural = "sessions de commande"
        ordering = ["-opens_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")),
                name="session_closes_after_opening",
                violation_error_message="La fermeture de la session doit être postérieure à son ouverture.",
            ),
            models.CheckConstraint(
                condition=Q(confirmation_published_at__isnull=True) | Q(confirmation_published_at__gte=F("closes_at")),
                name="session_confirmation_after_closing",
                violation_error_message="Les confirmations ne peuvent être publiées avant la fermeture.",
            ),
            models.CheckConstraint(
                condition=Q(delivery_start__isnull=True)
                | Q(delivery_end__isnull=True)
                | Q(delivery_end__gte=F("delivery_start")),
                name="session_delivery_window_ordered",
                violation_error_message="La fin de la livraison indicative précède son début.",
            ),
        ]
        indexes = [models.Index(fields=["opens_at", "closes_at"], name="session_window_idx")]

    def __str__(self) -> str:
        return f"Session du {self.label_dates}"

    @property
    def label_dates(self) -> str:
        start = timezone.localtime(self.opens_at)
        end = timezone.localtime(self.closes_at)
        return f"{formats.date_format(start, 'j F Y')} au {formats.date_format(end, 'j F Y')}"

    @property
    def is_pilot_only(self) -> bool:
        return self.pilot_group_id is not None

    def is_open_at(self, instant: datetime) -> bool:
        """Open to the second: from `opens_at` included to `closes_at` excluded."""
        return not self.is_closed_week and self.opens_at <= instant < self.closes_at

    def confirmations_visible_at(self, instant: datetime) -> bool:
        return self.confirmation_published_at is not None and instant >= self.confirmation_published_at


class ProductOffer(models.Model):
    """A product open to ordering in a session, with its optional national first-come-first-served stock.

    Quantities are in the product's unit (vials for vaccines, boxes for medical devices).
    """

    session = models.ForeignKey(OrderSession, on_delete=models.CASCADE, related_name="offers", verbose_name="session")
    product = models.ForeignKey(
        "orders.Product", on_delete=models.PROTECT, related_name="offers", verbose_name="produit"
    )
    box_size = models.PositiveSmallIntegerField(
        "commande par boîtes de",
        null=True,
        blank=True,
        help_text="Si renseigné, chaque quantité doit être un multiple de ce nombre (boîtes entières).",
    )
    national_stock = models.PositiveIntegerField(
        "stock national",
        null=True,
        blank=True,
        help_text="Premier arrivé, premier servi : une fois épuisé, les demandes sont refusées.",
    )
    stock_taken = models.PositiveIntegerField("stock réservé", default=0)

    class Meta:
        verbose_name = "produit ouvert"
        verbose_name_plural = "produits ouverts"
        ordering = ["product__sort_order"]
        constraints = [
            models.UniqueConstraint(fields=["session", "product"], name="offer_unique_session_product"),
            models.CheckConstraint(
                condition=Q(national_stock__isnull=True) | Q(stock_taken__lte=F("national_stock")),
                name="offer_stock_never_oversold",
                violation_error_message="Le stock national serait dépassé.",
            ),
            models.CheckConstraint(
                condition=Q(national_stock__isnull=False) | Q(stock_taken=0),
                name="offer_no_stock_taken_without_stock",
            ),
            models.CheckConstraint(
                condition=Q(box_size__isnull=True) | Q(box_size__gte=1),
                name="offer_box_size_positive",
                violation_error_message="La taille de boîte doit être au moins 1.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} – {self.session}"

    @property
    def stock_remaining(self) -> int | None:
        if self.national_stock is None:
            return None
        return self.national_stock - self.stock_taken


class CapRule(models.Model):
    """How much one effector type may order of an offered product (per injection rank where it applies).

    No rule for a type means the product is not open to it.
    """

    class Mode(models.TextChoices):
        CLOSED = "closed", "Non ouvert à la commande"
        UNLIMITED = "unlimited", "Non limité"
        PER_EFFECTOR = "per_effector", "Jusqu'à N par effecteur"
        PER_PHARMACY = "per_pharmacy", "Jusqu'à N par officine"

    class InjectionRank(models.IntegerChoices):
        NONE = 0, "Sans objet"
        FIRST = 1, "1re injection"
        SECOND = 2, "2nde injection"

    offer = models.ForeignKey(ProductOffer, on_delete=models.CASCADE, related_name="cap_rules", verbose_name="offre")
    effector_type = models.ForeignKey(
        "effectors.EffectorType",
        on_delete=models.PROTECT,
        related_name="cap_rules",
        verbose_name="type d'effecteur",
    )
    injection_rank = models.PositiveSmallIntegerField(
        "rang d'injection", choices=InjectionRank.choices, default=InjectionRank.NONE
    )
    mode = models.CharField("règle", max_length=16, choices=Mode.choices)
    limit = models.PositiveIntegerField("plafond", null=True, blank=True)

    class Meta:
        verbose_name = "plafond"
        ordering = ["offer", "effector_type__sort_order", "injection_rank"]
        constraints = [
            models.UniqueConstraint(fields=["offer", "effector_type", "injection_rank"], name="cap_rule_unique_cell"),
            models.CheckConstraint(
                condition=(
                    Q(mode__in=["per_effector", "per_pharmacy"], limit__isnull=False, limit__gte=1)
                    | Q(mode__in=["closed", "unlimited"], limit__isnull=True)
                ),
                name="cap_rule_limit_matches_mode",
                violation_error_message=(
                    "Un plafond chiffré (au moins 1) est requis pour « par effecteur » et « par officine », "
                    "et interdit pour « non ouvert » et « non limité »."
                ),
            ),
        ]

    def __str__(self) -> str:
        rank = f" ({self.get_injection_rank_display()})" if self.injection_rank else ""
        limit = f" {self.limit}" if self.limit else ""
        return f"{self.offer.product} / {self.effector_type}{rank} : {self.get_mode_display()}{limit}"


class SessionReminder(models.Model):
    """The end-of-session reminder to one officine: claimed (this row inserted) before the e-mail is sent,
    so that retries and doubled beat runs never send it twice (healthchecks' claim-then-send)."""

    class Status(models.TextChoices):
        CLAIMED = "claimed", "En cours d'envoi"
        SENT = "sent", "Envoyé"
        FAILED = "failed", "Échec"

    session = models.ForeignKey(
        OrderSession, on_delete=models.CASCADE, related_name="reminders", verbose_name="session"
    )
    pharmacy = models.ForeignKey(
        "accounts.Pharmacy", on_delete=models.CASCADE, related_name="session_reminders", verbose_name="officine"
    )
    status = models.CharField("état", max_length=16, choices=Status.choices, default=Status.CLAIMED)
    email = models.EmailField("adresse", blank=True)
    claimed_at = models.DateTimeField("réservé le", default=timezone.now)
    sent_at = models.DateTimeField("envoyé le", null=True, blank=True)
    attempts = models.PositiveSmallIntegerField("tentatives", default=1)
    last_error = models.CharField("dernière erreur", max_length=255, blank=True)

    class Meta:
        verbose_name = "rappel de fin de session"
        verbose_name_plural = "rappels de fin de session"
        ordering = ["-claimed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "pharmacy"],
                name="reminder_once_per_session_and_pharmacy",
                violation_error_message="Le rappel de cette session a déjà été envoyé à cette officine.",
            ),
            models.CheckConstraint(
                condition=Q(status="sent", sent_at__isnull=False) | (~Q(status="sent") & Q(sent_at__isnull=True)),
                name="reminder_sent_at_iff_sent",
            ),
        ]

    def __str__(self) -> str:
        return f"Rappel {self.session} → {self.pharmacy_id} ({self.get_status_display()})"
