"""Accounts, the geography of the ARS, the officines and who may order for them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q

from vaccine_orders.identifiers import validate_finess, validate_rpps


class Region(models.Model):
    """A French region, the territory of one ARS (INSEE code)."""

    code = models.CharField("code INSEE", max_length=3, unique=True)
    name = models.CharField("nom", max_length=100)

    class Meta:
        verbose_name = "région"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Department(models.Model):
    code = models.CharField("code", max_length=3, unique=True, help_text="« 75 », « 2A », « 971 »")
    name = models.CharField("nom", max_length=100)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="departments", verbose_name="région")

    class Meta:
        verbose_name = "département"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"


class Pharmacy(models.Model):
    """An officine, identified by its FINESS géographique (établissement)."""

    finess = models.CharField("FINESS géographique", max_length=9, unique=True, validators=[validate_finess])
    legal_finess = models.CharField("FINESS juridique", max_length=9, blank=True, validators=[validate_finess])
    name = models.CharField("raison sociale", max_length=200)
    address = models.CharField("adresse", max_length=255, blank=True)
    postal_code = models.CharField("code postal", max_length=5, blank=True)
    city = models.CharField("commune", max_length=100, blank=True)
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="pharmacies", verbose_name="département"
    )
    email = models.EmailField(
        "adresse e-mail de l'officine",
        blank=True,
        help_text="Vérifiée à la première connexion ; identifiant de la connexion de secours par code.",
    )
    email_verified_at = models.DateTimeField("e-mail vérifié le", null=True, blank=True)
    phone = models.CharField("téléphone", max_length=20, blank=True)
    is_active = models.BooleanField(
        "active dans le référentiel", default=True, help_text="Décochée quand l'officine disparaît du FINESS."
    )
    reminders_enabled = models.BooleanField("rappels de fin de session", default=True)
    created_at = models.DateTimeField("créée le", auto_now_add=True)
    updated_at = models.DateTimeField("modifiée le", auto_now=True)

    class Meta:
        verbose_name = "officine"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.finess})"

    @property
    def region(self) -> Region:
        return self.department.region


class PharmacistAuthority(models.Model):
    """A pharmacist (RPPS) allowed to order for an officine: the final word on who may log in.

    Filled from the RPPS extraction and editable by SpF in the admin.
    """

    class Role(models.TextChoices):
        TITULAIRE = "titulaire", "Pharmacien titulaire"
        GERANT_APRES_DECES = "gerant_apres_deces", "Gérant après décès du titulaire"
        GERANT_MINIERE_MUTUALISTE = "gerant_mutualiste", "Gérant d'une pharmacie minière ou mutualiste"

    class Source(models.TextChoices):
        REFERENTIAL = "referential", "Référentiel RPPS"
        MANUAL = "manual", "Saisie manuelle SpF"

    rpps = models.CharField("RPPS", max_length=11, validators=[validate_rpps], db_index=True)
    pharmacy = models.ForeignKey(
        Pharmacy, on_delete=models.CASCADE, related_name="authorities", verbose_name="officine"
    )
    role = models.CharField("fonction", max_length=32, choices=Role.choices)
    last_name = models.CharField("nom d'exercice", max_length=100, blank=True)
    first_name = models.CharField("prénom d'exercice", max_length=100, blank=True)
    source = models.CharField("origine", max_length=16, choices=Source.choices, default=Source.REFERENTIAL)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField("créée le", auto_now_add=True)
    updated_at = models.DateTimeField("modifiée le", auto_now=True)

    class Meta:
        verbose_name = "habilitation de pharmacien"
        verbose_name_plural = "habilitations de pharmaciens"
        constraints = [
            models.UniqueConstraint(fields=["rpps", "pharmacy"], name="authority_unique_rpps_pharmacy"),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip() or self.rpps
        return f"{name} – {self.get_role_display()} – {self.pharmacy.finess}"


class AccountManager(UserManager):
    """Every page of a pharmacy account reads `request.user.pharmacy`: loading it with the user (the
    authentication backends use the default manager) saves a query on each request."""

    def get_queryset(self):
        return super().get_queryset().select_related("pharmacy")


class User(AbstractUser):
    """A login. A pharmacy account is shared by the officine's titulaires (one per officine); staff and
    ARS agents have their own, bound to a region for ARS."""

    objects = AccountManager()

    email = models.EmailField("adresse e-mail", blank=True)
    pharmacy = models.OneToOneField(
        Pharmacy,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="account",
        verbose_name="officine",
    )
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="agents",
        verbose_name="région (agents ARS)",
    )

    class Meta:
        verbose_name = "utilisateur"
        constraints = [
            models.CheckConstraint(
                condition=Q(pharmacy__isnull=True) | Q(region__isnull=True),
                name="user_pharmacy_or_region_not_both",
                violation_error_message="Un compte d'officine ne peut pas être rattaché à une région ARS.",
            ),
        ]

    def __str__(self) -> str:
        if self.pharmacy_id:
            return f"Compte officine {self.pharmacy.finess}"
        return self.get_full_name() or self.email or self.username

    @property
    def is_pharmacy(self) -> bool:
        return self.pharmacy_id is not None
