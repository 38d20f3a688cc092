"""Migration of the attachments of the previous portal (django-import-export, admin "Importer").

Columns: `finess_officine` (the officine's FINESS), `identifiant` (RPPS of a professional or FINESS of an
establishment), `date_rattachement` (optional: JJ/MM/AAAA or AAAA-MM-JJ). The admin always shows a dry run
first; each row goes through services.attachment_attach, so the referential checks, the one-officine rule,
the lock and the audit apply exactly as when an officine attaches by hand. A row already in place is skipped
(the file can be imported twice).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields, resources
from import_export.formats import base_formats

from accounts.models import Pharmacy
from vaccine_orders.audit.actors import Actor
from vaccine_orders.identifiers import is_valid_finess, normalize_identifier

from .errors import EffectorError
from .models import Attachment, Effector
from .services import attachment_attach, validate_identifier_key

SOURCE_LABEL = "Reprise de l'ancien portail"


class FrenchCSV(base_formats.CSV):
    """CSV as French spreadsheets write it (";") or as others do (","), told apart by the header line."""

    def create_dataset(self, in_stream: Any, **kwargs: Any) -> Any:
        text = in_stream.decode(self.encoding or "utf-8-sig") if isinstance(in_stream, bytes) else in_stream
        header = text.split("\n", 1)[0]
        kwargs.setdefault("delimiter", ";" if header.count(";") > header.count(",") else ",")
        return super().create_dataset(text, **kwargs)


def _parse_date(value: str) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            day = datetime.strptime(value, pattern).date()  # noqa: DTZ007 - a calendar date, made aware below
        except ValueError:
            continue
        if day > timezone.localdate():
            raise ValidationError({"date_rattachement": f"La date de rattachement « {value} » est dans le futur."})
        return timezone.make_aware(datetime.combine(day, time(0, 0)))
    raise ValidationError(
        {"date_rattachement": f"Date « {value} » illisible : écrivez-la JJ/MM/AAAA ou AAAA-MM-JJ, ou laissez vide."}
    )


class AttachmentMigrationResource(resources.ModelResource):
    finess_officine = fields.Field(column_name="finess_officine")
    identifiant = fields.Field(column_name="identifiant")
    date_rattachement = fields.Field(column_name="date_rattachement")

    class Meta:
        model = Attachment
        fields = ("finess_officine", "identifiant", "date_rattachement")
        import_order = ("finess_officine", "identifiant", "date_rattachement")
        force_init_instance = True
        clean_model_instances = False
        use_bulk = False

    @classmethod
    def get_display_name(cls) -> str:
        return "Rattachements de l'ancien portail"

    # Shown in the dry run's preview.
    def dehydrate_finess_officine(self, attachment: Attachment) -> str:
        return attachment.pharmacy.finess if attachment.pharmacy_id else ""

    def dehydrate_identifiant(self, attachment: Attachment) -> str:
        return attachment.effector.identifier if attachment.effector_id else ""

    def dehydrate_date_rattachement(self, attachment: Attachment) -> str:
        return f"{timezone.localtime(attachment.attached_at):%d/%m/%Y}" if attachment.effector_id else ""

    def import_instance(self, instance: Attachment, row: dict[str, Any], **kwargs: Any) -> None:
        """Read the row into the attachment to make, with a French message per faulty column."""
        errors: dict[str, str] = {}
        finess = normalize_identifier(str(row.get("finess_officine") or ""))
        pharmacy = None
        if not is_valid_finess(finess):
            errors["finess_officine"] = f"FINESS d'officine « {finess} » invalide (9 caractères, clé de contrôle)."
        else:
            pharmacy = Pharmacy.objects.filter(finess=finess).first()
            if pharmacy is None:
                errors["finess_officine"] = f"Aucune officine de FINESS {finess} : importez d'abord le FINESS."
        identifier = normalize_identifier(str(row.get("identifiant") or ""))
        try:
            validate_identifier_key(identifier)
        except ValidationError as error:
            errors["identifiant"] = " ".join(error.messages)
        try:
            attached_at = _parse_date(str(row.get("date_rattachement") or ""))
        except ValidationError as error:
            errors.update({k: " ".join(v) for k, v in error.message_dict.items()})
            attached_at = None
        if errors:
            raise ValidationError(errors)
        instance.pharmacy = pharmacy
        instance._migration = {"identifier": identifier, "attached_at": attached_at}  # type: ignore[attr-defined]

    def skip_row(self, instance: Attachment, original: Any, row: dict[str, Any], import_validation_errors=None) -> bool:
        """The same attachment already exists (a second import of the file): nothing to do."""
        if import_validation_errors or not hasattr(instance, "_migration"):
            return False
        identifier = instance._migration["identifier"]
        lookup = {"professional__rpps": identifier} if len(identifier) == 11 else {"establishment__finess": identifier}
        effector = Effector.objects.filter(**lookup).first()
        return bool(
            effector
            and Attachment.objects.filter(
                effector=effector, pharmacy=instance.pharmacy, detached_at__isnull=True
            ).exists()
        )

    def save_instance(self, instance: Attachment, is_create: bool, row: dict[str, Any], **kwargs: Any) -> None:
        user = kwargs.get("user")
        label = f"{SOURCE_LABEL} ({user.get_username()})" if user else SOURCE_LABEL
        try:
            attachment = attachment_attach(
                pharmacy=instance.pharmacy,
                identifier=instance._migration["identifier"],
                actor=Actor(user=user, label=label),
                source=Attachment.Source.MIGRATION,
                attached_at=instance._migration["attached_at"],
            )
        except EffectorError as error:
            raise ValidationError({"identifiant": error.message}) from None
        instance.pk = attachment.pk
        instance.effector = attachment.effector
        instance.attached_at = attachment.attached_at
