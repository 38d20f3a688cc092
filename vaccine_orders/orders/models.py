"""The catalogue and the orders: one order per officine and session, a line per effector × product × rank."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Product(models.Model):
    """A state-stock product: a vaccine, a medical device (syringes, needles), or anything added later."""

    class Kind(models.TextChoices):
        VACCINE = "vaccine", "Vaccin"
        MEDICAL_DEVICE = "medical_device", "Dispositif médical"
        OTHER = "other", "Autre produit"

    class Unit(models.TextChoices):
        VIAL = "vial", "flacon"
        BOX = "box", "boîte"
        UNIT = "unit", "unité"

    code = models.SlugField("code", max_length=40, unique=True)
    name = models.CharField("nom", max_length=150)
    short_name = models.CharField("nom court", max_length=60)
    kind = models.CharField("nature", max_length=16, choices=Kind.choices)
    unit = models.CharField("unité de commande", max_length=8, choices=Unit.choices)
    units_per_box = models.PositiveSmallIntegerField(
        "unités par boîte",
        default=1,
        help_text="Flacons par boîte pour un vaccin, pièces par boîte pour un DM.",
    )
    doses_per_vial = models.PositiveSmallIntegerField("doses par flacon", null=True, blank=True)
    storage_rule = models.TextField(
        "conservation", blank=True, help_text="Rappelée sur le récapitulatif PDF (ex. : 30 jours à 2-8 °C)."
    )
    has_injection_rank = models.BooleanField(
        "commande par rang d'injection",
        default=False,
        help_text="1re et 2nde injection commandées séparément.",
    )
    is_active = models.BooleanField("actif", default=True)
    sort_order = models.PositiveSmallIntegerField("ordre", default=0)

    class Meta:
        verbose_name = "produit"
        ordering = ["sort_order", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(units_per_box__gte=1),
                name="product_units_per_box_positive",
                violation_error_message="Une boîte contient au moins une unité.",
            ),
            models.CheckConstraint(
                condition=~Q(kind="vaccine") | Q(doses_per_vial__isnull=False, doses_per_vial__gte=1),
                name="product_vaccine_has_doses_per_vial",
                violation_error_message="Un vaccin doit indiquer son nombre de doses par flacon.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def doses(self, quantity: int) -> int | None:
        """Doses in `quantity` units of this product (None for products that are not counted in doses)."""
        if self.doses_per_vial is None:
            return None
        vials = quantity * self.units_per_box if self.unit == self.Unit.BOX else quantity
        return vials * self.doses_per_vial


class Order(models.Model):
    """An officine's order for one session. Registered at once ("commande enregistrée"); confirmed
    quantities come later from logistics, line by line."""

    class Status(models.TextChoices):
        REGISTERED = "registered", "Enregistrée"
        CANCELLED = "cancelled", "Annulée"

    reference = models.CharField("référence", max_length=24)  # unique: order_reference_unique below
    # No index of their own on these two foreign keys: order_one_per_pharmacy_and_session (pharmacy, session)
    # and order_session_status_idx (session, status) start with them, and every index is one more write on
    # each validation.
    pharmacy = models.ForeignKey(
        "accounts.Pharmacy", on_delete=models.PROTECT, related_name="orders", verbose_name="officine", db_index=False
    )
    session = models.ForeignKey(
        "sessions_calendar.OrderSession",
        on_delete=models.PROTECT,
        related_name="orders",
        verbose_name="session",
        db_index=False,
    )
    status = models.CharField("état", max_length=16, choices=Status.choices, default=Status.REGISTERED)
    version = models.PositiveIntegerField(
        "version",
        default=1,
        help_text="Incrémentée à chaque modification : refuse les enregistrements concurrents.",
    )
    created_at = models.DateTimeField("créée le", auto_now_add=True)
    updated_at = models.DateTimeField("modifiée le", auto_now=True)
    validated_at = models.DateTimeField("validée le", null=True, blank=True)
    cancelled_at = models.DateTimeField("annulée le", null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="créée par (compte)",
    )
    created_by_label = models.CharField("créée par", max_length=255, blank=True)
    submission_token = models.CharField(
        "jeton de la dernière validation",
        max_length=64,
        blank=True,
        editable=False,
        help_text="Un même formulaire validé deux fois (double clic, renvoi) n'enregistre qu'une version.",
    )
    updated_by_label = models.CharField("modifiée par", max_length=255, blank=True)
    # The receipt outbox (services.receipts_send_pending): the version whose e-mail went out, and since when a
    # sender holds the row. Written in the order's own transaction: a validation publishes nothing to the broker,
    # and a receipt cannot be lost between the commit and a publish.
    receipt_version = models.PositiveIntegerField("version de l'accusé de réception envoyé", default=0, editable=False)
    receipt_claimed_at = models.DateTimeField(
        "accusé de réception en cours d'envoi depuis", null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = "commande"
        ordering = ["-created_at"]
        constraints = [
            # A constraint rather than unique=True, which on PostgreSQL adds a LIKE-pattern twin index that no
            # query uses (the admin's search is case-insensitive) and every validation would write.
            models.UniqueConstraint(fields=["reference"], name="order_reference_unique"),
            models.UniqueConstraint(
                fields=["pharmacy", "session"],
                name="order_one_per_pharmacy_and_session",
                violation_error_message="Cette officine a déjà une commande pour cette session.",
            ),
            models.CheckConstraint(
                condition=Q(status="cancelled") | Q(cancelled_at__isnull=True),
                name="order_cancelled_at_only_when_cancelled",
            ),
        ]
        indexes = [
            models.Index(fields=["session", "status"], name="order_session_status_idx"),
            # The receipts still to send (receipts_send_pending): a handful of rows at any time.
            models.Index(
                fields=["id"], condition=Q(receipt_version__lt=F("version")), name="order_receipt_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Commande {self.reference}"


class OrderLine(models.Model):
    """What an officine asks for one effector, one product (and one injection rank where it applies).

    Requested, confirmed and delivered quantities are kept apart: logistics may confirm less than
    requested, with a reason, and deliver less than confirmed.
    """

    # order and product: served by order_line_unique_cell (order, …) and order_line_product_idx (product, order),
    # without an index of their own (one write less per line and per index).
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="lines", verbose_name="commande", db_index=False
    )
    effector = models.ForeignKey(
        "effectors.Effector", on_delete=models.PROTECT, related_name="order_lines", verbose_name="effecteur"
    )
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="order_lines", verbose_name="produit", db_index=False
    )
    injection_rank = models.PositiveSmallIntegerField(
        "rang d'injection",
        default=0,
        choices=[(0, "Sans objet"), (1, "1re injection"), (2, "2nde injection")],
    )
    quantity_requested = models.PositiveIntegerField("quantité demandée")
    quantity_confirmed = models.PositiveIntegerField("quantité confirmée", null=True, blank=True)
    reduction_reason = models.CharField("motif de réduction", max_length=255, blank=True)
    quantity_delivered = models.PositiveIntegerField("quantité livrée", null=True, blank=True)
    created_at = models.DateTimeField("créée le", auto_now_add=True)
    updated_at = models.DateTimeField("modifiée le", auto_now=True)

    class Meta:
        verbose_name = "ligne de commande"
        verbose_name_plural = "lignes de commande"
        constraints = [
            models.UniqueConstraint(
                fields=["order", "effector", "product", "injection_rank"],
                name="order_line_unique_cell",
                violation_error_message="Cette ligne existe déjà dans la commande.",
            ),
            models.CheckConstraint(
                condition=Q(quantity_requested__gt=0),
                name="order_line_quantity_positive",
                violation_error_message="La quantité demandée doit être strictement positive.",
            ),
            models.CheckConstraint(
                condition=Q(quantity_confirmed__isnull=True) | Q(quantity_confirmed__lte=F("quantity_requested")),
                name="order_line_confirmed_within_requested",
                violation_error_message="La quantité confirmée ne peut dépasser la quantité demandée.",
            ),
            models.CheckConstraint(
                condition=Q(quantity_delivered__isnull=True)
                | (Q(quantity_confirmed__isnull=False) & Q(quantity_delivered__lte=F("quantity_confirmed"))),
                name="order_line_delivered_within_confirmed",
                violation_error_message="La quantité livrée ne peut dépasser la quantité confirmée.",
            ),
            models.CheckConstraint(
                condition=Q(injection_rank__in=[0, 1, 2]),
                name="order_line_injection_rank_known",
            ),
        ]
        indexes = [models.Index(fields=["product", "order"], name="order_line_product_idx")]

    def __str__(self) -> str:
        return f"{self.order.reference} – {self.effector} – {self.product} : {self.quantity_requested}"
