"""Who the vials are for: the national referential (RPPS, FINESS), effectors and their attachments."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Replace, Upper
from django.utils import timezone

from vaccine_orders.identifiers import validate_finess, validate_rpps


class EffectorType(models.Model):
    """A kind of effector: the officine itself, a profession, the nurses' total, a kind of establishment."""

    class Kind(models.TextChoices):
        PHARMACY = "pharmacy", "L'officine elle-même"
        PROFESSIONAL = "professional", "Professionnel de santé"
        AGGREGATE = "aggregate", "Ligne agrégée (non nominative)"
        ESTABLISHMENT = "establishment", "Établissement"

    code = models.SlugField("code", max_length=32, unique=True)
    label = models.CharField("libellé", max_length=100)
    label_plural = models.CharField("libellé au pluriel", max_length=100)
    kind = models.CharField("nature", max_length=16, choices=Kind.choices)
    is_nominative = models.BooleanField(
        "nominatif", help_text="Commandé au nom de chaque professionnel ou établissement (faux pour les IDE)."
    )
    rpps_profession_code = models.CharField(
        "code profession RPPS", max_length=3, blank=True, help_text="TRE_G15 : 10 médecin, 21 pharmacien…"
    )
    rpps_specialty_codes = models.JSONField(
        "codes savoir-faire RPPS",
        default=list,
        blank=True,
        help_text="Savoir-faire qui distinguent ce type dans la profession (médecine du travail).",
    )
    finess_categories = models.JSONField(
        "catégories FINESS", default=list, blank=True, help_text="Codes de catégorie d'établissement."
    )
    receives_mailing = models.BooleanField(
        "reçoit le publipostage du vendredi",
        default=False,
        help_text="Médecins, sages-femmes et chirurgiens-dentistes reçoivent leurs volumes par e-mail.",
    )
    sort_order = models.PositiveSmallIntegerField("ordre", default=0)

    class Meta:
        verbose_name = "type d'effecteur"
        verbose_name_plural = "types d'effecteurs"
        ordering = ["sort_order", "label"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="aggregate") | Q(is_nominative=False),
                name="effector_type_aggregate_not_nominative",
                violation_error_message="Une ligne agrégée ne peut pas être nominative.",
            ),
        ]

    def __str__(self) -> str:
        return self.label


# The accented capitals of French names and their plain letters. (The RPPS writes names in capitals; SQLite's
# parser refuses much deeper nesting, so small accented letters are left to PostgreSQL's UPPER.)
_PLAIN_LETTERS = {"E": "ÉÈÊË", "A": "ÀÂÄ", "I": "ÎÏ", "O": "ÔÖ", "U": "ÙÛÜ", "C": "Ç", "Y": "Ÿ", "OE": "Œ", "AE": "Æ"}


def _plain_upper(field: str) -> models.Func:
    """UPPER(field) without accents, computed by the database (PostgreSQL and SQLite alike)."""
    expression: models.Func = Upper(field)
    for plain, accented in _PLAIN_LETTERS.items():
        for letter in accented:
            expression = Replace(expression, Value(letter), Value(plain))
    return expression


class Professional(models.Model):
    """An entry of the RPPS extraction: one health professional."""

    rpps = models.CharField("RPPS", max_length=11, unique=True, validators=[validate_rpps])
    profession_code = models.CharField("code profession", max_length=3)
    profession_label = models.CharField("profession", max_length=100, blank=True)
    specialty_code = models.CharField("code savoir-faire", max_length=16, blank=True)
    last_name = models.CharField("nom d'exercice", max_length=100)
    # What the name search compares with: "LEFÈVRE" is found by typing "lefevre" as well as "Lefèvre".
    last_name_plain = models.GeneratedField(
        expression=_plain_upper("last_name"),
        output_field=models.CharField(max_length=100),
        db_persist=True,
        verbose_name="nom (sans accents)",
    )
    first_name = models.CharField("prénom d'exercice", max_length=100, blank=True)
    postal_code = models.CharField("code postal", max_length=5, blank=True)
    city = models.CharField("commune", max_length=100, blank=True)
    department = models.ForeignKey(
        "accounts.Department", on_delete=models.PROTECT, null=True, blank=True, verbose_name="département"
    )
    email = models.EmailField(
        "e-mail de contact",
        blank=True,
        help_text="Utilisé pour le publipostage du vendredi ; saisi par l'officine.",
    )
    is_active = models.BooleanField("présent dans le référentiel", default=True)
    updated_at = models.DateTimeField("modifié le", auto_now=True)

    class Meta:
        verbose_name = "professionnel de santé (RPPS)"
        verbose_name_plural = "professionnels de santé (RPPS)"
        ordering = ["last_name", "first_name"]
        indexes = [
            models.Index(fields=["last_name", "department"], name="professional_name_dept_idx"),
            # Serves the name search of "Mes effecteurs" (`last_name_plain LIKE 'DUP%'`): a pattern opclass
            # lets PostgreSQL use the index for a prefix whatever the database collation.
            models.Index(
                fields=["last_name_plain"], name="professional_plain_prefix_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        return f"{self.last_name} {self.first_name} ({self.rpps})".replace("  ", " ")


class Establishment(models.Model):
    """An entry of the FINESS extraction that may order through an officine (EHPAD, MSP, PMI…)."""

    finess = models.CharField("FINESS géographique", max_length=9, unique=True, validators=[validate_finess])
    category_code = models.CharField("code catégorie", max_length=4)
    category_label = models.CharField("catégorie", max_length=150, blank=True)
    name = models.CharField("raison sociale", max_length=200)
    address = models.CharField("adresse", max_length=255, blank=True)
    postal_code = models.CharField("code postal", max_length=5, blank=True)
    city = models.CharField("commune", max_length=100, blank=True)
    department = models.ForeignKey(
        "accounts.Department", on_delete=models.PROTECT, null=True, blank=True, verbose_name="département"
    )
    is_active = models.BooleanField("présent dans le référentiel", default=True)
    updated_at = models.DateTimeField("modifié le", auto_now=True)

    class Meta:
        verbose_name = "établissement (FINESS)"
        verbose_name_plural = "établissements (FINESS)"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.finess})"


class Effector(models.Model):
    """Who an order line is for: exactly one of a professional, an establishment, or the officine
    itself (its own line, and the one total line for all the nurses it serves)."""

    type = models.ForeignKey(EffectorType, on_delete=models.PROTECT, related_name="effectors", verbose_name="type")
    professional = models.OneToOneField(
        Professional,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="effector",
        verbose_name="professionnel",
    )
    establishment = models.OneToOneField(
        Establishment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="effector",
        verbose_name="établissement",
    )
    pharmacy = models.ForeignKey(
        "accounts.Pharmacy",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="own_effectors",
        verbose_name="officine (lignes propres)",
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)

    class Meta:
        verbose_name = "effecteur"
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(professional__isnull=False, establishment__isnull=True, pharmacy__isnull=True)
                    | Q(professional__isnull=True, establishment__isnull=False, pharmacy__isnull=True)
                    | Q(professional__isnull=True, establishment__isnull=True, pharmacy__isnull=False)
                ),
                name="effector_exactly_one_reference",
                violation_error_message=(
                    "Un effecteur désigne exactement un professionnel, un établissement ou l'officine elle-même."
                ),
            ),
            models.UniqueConstraint(
                fields=["pharmacy", "type"],
                condition=Q(pharmacy__isnull=False),
                name="effector_one_own_line_per_type",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        # Touches only the relation it needs: lists that did not load the type do not query it for a doctor.
        if self.professional_id:
            return effector_display_name(professional_name=(self.professional.first_name, self.professional.last_name))
        if self.establishment_id:
            return effector_display_name(establishment_name=self.establishment.name)
        return effector_display_name(kind=self.type.kind, type_label_plural=self.type.label_plural)

    @property
    def identifier(self) -> str:
        return effector_identifier(
            rpps=self.professional.rpps if self.professional_id else None,
            finess=self.establishment.finess if self.establishment_id else None,
        )


# The two naming rules of an effector, shared by the model and by the order grid, which reads effectors as plain
# values (no model instances) on every grid, recap and validation.
def effector_display_name(
    *,
    kind: str = "",
    type_label_plural: str = "",
    professional_name: tuple[str, str] | None = None,
    establishment_name: str | None = None,
) -> str:
    if professional_name is not None:
        return f"{professional_name[0]} {professional_name[1]}".strip()
    if establishment_name is not None:
        return establishment_name
    if kind == EffectorType.Kind.AGGREGATE:
        return f"{type_label_plural} (total)"
    return "Officine (pour elle-même)"


def effector_identifier(*, rpps: str | None, finess: str | None) -> str:
    if rpps is not None:
        return f"RPPS {rpps}"
    if finess is not None:
        return f"FINESS {finess}"
    return ""


class Attachment(models.Model):
    """An effector attached to one officine. Detaching closes the row; history is never deleted."""

    class Source(models.TextChoices):
        PHARMACY = "pharmacy", "Officine"
        MIGRATION = "migration", "Reprise de l'ancien portail"
        SUPPORT = "support", "Support SpF"
        TRANSFER = "transfer", "Transfert entre officines"
        SYSTEM = "system", "Automatique"

    effector = models.ForeignKey(
        Effector, on_delete=models.PROTECT, related_name="attachments", verbose_name="effecteur"
    )
    pharmacy = models.ForeignKey(
        "accounts.Pharmacy", on_delete=models.PROTECT, related_name="attachments", verbose_name="officine"
    )
    attached_at = models.DateTimeField("rattaché le", default=timezone.now)
    detached_at = models.DateTimeField("détaché le", null=True, blank=True)
    attached_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="rattaché par",
    )
    detached_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="détaché par",
    )
    source = models.CharField("origine", max_length=16, choices=Source.choices, default=Source.PHARMACY)
    needs_review = models.BooleanField(
        "à revoir", default=False, help_text="L'effecteur a disparu du référentiel national ou y est inactif."
    )
    review_reason = models.CharField("motif de revue", max_length=255, blank=True)

    class Meta:
        verbose_name = "rattachement"
        constraints = [
            models.UniqueConstraint(
                fields=["effector"],
                condition=Q(detached_at__isnull=True),
                name="attachment_one_active_per_effector",
                violation_error_message="Cet effecteur est déjà rattaché à une officine.",
            ),
            models.CheckConstraint(
                condition=Q(detached_at__isnull=True) | Q(detached_at__gte=F("attached_at")),
                name="attachment_detached_after_attached",
                violation_error_message="La date de détachement précède la date de rattachement.",
            ),
        ]
        indexes = [
            # Serves "the effectors attached to this officine now": the order grid and "Mes effecteurs".
            models.Index(fields=["pharmacy"], condition=Q(detached_at__isnull=True), name="attachment_active_idx"),
        ]

    def __str__(self) -> str:
        state = "actif" if self.detached_at is None else "clos"
        return f"{self.effector} → {self.pharmacy.finess} ({state})"

    @property
    def is_active(self) -> bool:
        return self.detached_at is None


# --- Referential imports -------------------------------------------------------------------------


class ReferentialImport(models.Model):
    """One import of a national extraction (RPPS or FINESS): who started it, from which file, and what it
    changed. Kept as the import report shown in the admin."""

    class Kind(models.TextChoices):
        RPPS = "rpps", "RPPS (professionnels de santé)"
        FINESS = "finess", "FINESS (officines et établissements)"

    class Status(models.TextChoices):
        PENDING = "pending", "En attente"
        RUNNING = "running", "En cours"
        SUCCEEDED = "succeeded", "Terminé"
        FAILED = "failed", "Échoué"

    kind = models.CharField("référentiel", max_length=8, choices=Kind.choices)
    status = models.CharField("état", max_length=12, choices=Status.choices, default=Status.PENDING)
    source_file = models.FileField(
        "fichier",
        upload_to="referential/%Y/%m/",
        blank=True,
        help_text="L'extraction nationale telle que publiée (.txt, .csv, ou l'archive .zip).",
    )
    source_name = models.CharField("nom du fichier", max_length=255, blank=True)
    allow_mass_deactivation = models.BooleanField(
        "autoriser la désactivation massive",
        default=False,
        help_text="Sans cette case, si plus de la moitié des entrées actives manquent au fichier, aucune n'est "
        "désactivée (fichier sans doute incomplet).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="lancé par",
    )
    created_at = models.DateTimeField("créé le", default=timezone.now)
    started_at = models.DateTimeField("commencé le", null=True, blank=True)
    finished_at = models.DateTimeField("terminé le", null=True, blank=True)
    lines_read = models.PositiveIntegerField("lignes lues", default=0)
    created_count = models.PositiveIntegerField("créés", default=0)
    updated_count = models.PositiveIntegerField("modifiés", default=0)
    unchanged_count = models.PositiveIntegerField("inchangés", default=0)
    rejected_count = models.PositiveIntegerField("lignes rejetées", default=0)
    skipped_count = models.PositiveIntegerField(
        "lignes hors périmètre", default=0, help_text="Autres professions, identifiants ADELI, autres catégories…"
    )
    deactivated_count = models.PositiveIntegerField("désactivés (absents du fichier)", default=0)
    flagged_count = models.PositiveIntegerField("rattachements à revoir", default=0)
    details = models.JSONField("détails", default=dict, blank=True)
    error_message = models.TextField("erreur", blank=True)

    class Meta:
        verbose_name = "import du référentiel"
        verbose_name_plural = "imports du référentiel"
        ordering = ["-created_at", "-id"]
        constraints = [
            # Two imports of the same file kind would fight over its staging table and over is_active.
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(status="running"),
                name="referential_import_one_running_per_kind",
                violation_error_message="Un import de ce référentiel est déjà en cours.",
            ),
        ]

    def __str__(self) -> str:
        return f"Import {self.get_kind_display()} n° {self.pk} – {self.source_name or 'sans fichier'}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class ImportRejection(models.Model):
    """A line of a national file that could not be read, with its number in the file and why."""

    run = models.ForeignKey(
        ReferentialImport, on_delete=models.CASCADE, related_name="rejections", verbose_name="import"
    )
    line_number = models.PositiveIntegerField("ligne")
    reason = models.CharField("motif", max_length=255)
    excerpt = models.CharField("début de la ligne", max_length=300, blank=True)

    class Meta:
        verbose_name = "ligne rejetée"
        verbose_name_plural = "lignes rejetées"
        ordering = ["run", "line_number"]
        indexes = [models.Index(fields=["run", "line_number"], name="import_rejection_run_line_idx")]

    def __str__(self) -> str:
        return f"Ligne {self.line_number} : {self.reason}"


class RppsStagingRow(models.Model):
    """One in-scope line of the RPPS file being imported, as parsed. Emptied at the start of each import;
    the set-based merge reads it. On PostgreSQL the table is UNLOGGED: it is rebuilt from the file on every
    run, so writing it to the WAL would only slow the COPY down."""

    line_number = models.PositiveIntegerField(primary_key=True)
    rpps = models.CharField(max_length=11)
    profession_code = models.CharField(max_length=3)
    profession_label = models.CharField(max_length=100)
    specialty_code = models.CharField(max_length=16)
    # True when the line carries a savoir-faire that makes a type of its own (médecine du travail): that
    # line wins over the person's other lines.
    preferred = models.BooleanField()
    last_name = models.CharField(max_length=100)
    first_name = models.CharField(max_length=100)
    postal_code = models.CharField(max_length=5)
    city = models.CharField(max_length=100)
    department_code = models.CharField(max_length=3)
    finess_site = models.CharField(max_length=9)
    authority_role = models.CharField(max_length=32)

    class Meta:
        verbose_name = "ligne RPPS en cours d'import"
        default_permissions = ()

    def __str__(self) -> str:
        return f"Ligne {self.line_number} : RPPS {self.rpps}"


class FinessStagingRow(models.Model):
    """One in-scope `structureet` line of the FINESS file being imported (see RppsStagingRow)."""

    class Target(models.TextChoices):
        PHARMACY = "pharmacy", "Officine"
        ESTABLISHMENT = "establishment", "Établissement"

    line_number = models.PositiveIntegerField(primary_key=True)
    target = models.CharField(max_length=16, choices=Target.choices)
    finess = models.CharField(max_length=9)
    legal_finess = models.CharField(max_length=9)
    category_code = models.CharField(max_length=4)
    category_label = models.CharField(max_length=150)
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=255)
    postal_code = models.CharField(max_length=5)
    city = models.CharField(max_length=100)
    department_code = models.CharField(max_length=3)
    phone = models.CharField(max_length=20)

    class Meta:
        verbose_name = "ligne FINESS en cours d'import"
        default_permissions = ()

    def __str__(self) -> str:
        return f"Ligne {self.line_number} : FINESS {self.finess}"


# --- Transfers between officines ------------------------------------------------------------------


class TransferRequest(models.Model):
    """An officine asks for an effector attached to another one. The current officine accepts or refuses;
    after ANSWER_DELAY without an answer, SpF support decides in the admin."""

    ANSWER_DELAY = timedelta(days=7)

    class Status(models.TextChoices):
        PENDING = "pending", "En attente de réponse"
        ACCEPTED = "accepted", "Acceptée"
        REFUSED = "refused", "Refusée"
        CANCELLED = "cancelled", "Annulée"

    effector = models.ForeignKey(
        Effector, on_delete=models.PROTECT, related_name="transfer_requests", verbose_name="effecteur"
    )
    from_pharmacy = models.ForeignKey(
        "accounts.Pharmacy",
        on_delete=models.PROTECT,
        related_name="transfer_requests_received",
        verbose_name="officine actuelle",
    )
    to_pharmacy = models.ForeignKey(
        "accounts.Pharmacy",
        on_delete=models.PROTECT,
        related_name="transfer_requests_sent",
        verbose_name="officine demandeuse",
    )
    status = models.CharField("état", max_length=12, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField("demandée le", default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="demandée par",
    )
    decided_at = models.DateTimeField("décidée le", null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="décidée par",
    )
    decided_by_support = models.BooleanField("décision du support SpF", default=False)
    decision_note = models.CharField("motif", max_length=255, blank=True)

    class Meta:
        verbose_name = "demande de transfert"
        verbose_name_plural = "demandes de transfert"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["effector"],
                condition=Q(status="pending"),
                name="transfer_one_pending_per_effector",
                violation_error_message="Une demande de transfert est déjà en cours pour cet effecteur.",
            ),
            models.CheckConstraint(
                condition=~Q(from_pharmacy=F("to_pharmacy")),
                name="transfer_between_two_pharmacies",
                violation_error_message="Une officine ne peut pas se demander un transfert à elle-même.",
            ),
        ]
        indexes = [
            # Serves "Demandes de transfert reçues" on the current officine's page.
            models.Index(fields=["from_pharmacy"], condition=Q(status="pending"), name="transfer_pending_from_idx"),
            # Serves the support's queue of requests left unanswered for ANSWER_DELAY.
            models.Index(fields=["created_at"], condition=Q(status="pending"), name="transfer_pending_age_idx"),
        ]

    def __str__(self) -> str:
        return f"Transfert de {self.effector} ({self.get_status_display()})"

    @property
    def support_may_decide_at(self) -> datetime:
        return self.created_at + self.ANSWER_DELAY

    def is_overdue(self, *, at: datetime | None = None) -> bool:
        return self.status == self.Status.PENDING and (at or timezone.now()) >= self.support_may_decide_at
