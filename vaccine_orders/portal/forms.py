"""The "Contacter le support" form, and the support desk's admin form."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from dsfr.forms import DsfrBaseForm

from vaccine_orders.identifiers import normalize_identifier, validate_finess

from .antispam import HONEYPOT_FIELD, form_token_check, form_token_issue
from .models import HelpDocument, SupportRequest
from .services import ALLOWED_TRANSITIONS
from .support import SupportReason

PHONE_RE = re.compile(r"^(?:0[1-9]\d{8}|\+\d{8,15})$")
ERROR_MAX_LENGTH = 500


def normalize_phone(value: str) -> str:
    return re.sub(r"[\s.\-()]", "", value or "")


class SupportRequestForm(DsfrBaseForm):
    """Reasons exactly as in seed 000. Logged in as an officine, who is asking is known: the officine and
    its context are attached by the service, not typed. Anonymous requesters give their name, e-mail and,
    if they wish, their officine's FINESS."""

    reason = forms.ChoiceField(
        label="Motif de votre demande",
        choices=[("", "Sélectionnez un motif"), *SupportReason.choices],
        error_messages={"required": "Choisissez le motif de votre demande.", "invalid_choice": "Motif inconnu."},
    )
    message = forms.CharField(
        label="Votre message",
        help_text="Décrivez votre difficulté : ce que vous faisiez, ce qui s'est affiché.",
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=5000,
        error_messages={
            "required": "Écrivez votre message.",
            "max_length": "Votre message est trop long (5 000 caractères au plus).",
        },
    )
    name = forms.CharField(
        label="Vos nom et prénom",
        max_length=150,
        error_messages={"required": "Indiquez vos nom et prénom."},
    )
    email = forms.EmailField(
        label="Adresse e-mail",
        help_text="La réponse du support et l'accusé de réception vous seront envoyés à cette adresse.",
        error_messages={
            "required": "Indiquez l'adresse e-mail à laquelle vous répondre.",
            "invalid": "Saisissez une adresse e-mail valide, par exemple nom@domaine.fr.",
        },
    )
    finess = forms.CharField(
        label="N° FINESS de votre officine (facultatif)",
        help_text="9 caractères, par exemple 750012345.",
        required=False,
        max_length=20,
    )
    callback_requested = forms.BooleanField(
        label="Je souhaite être rappelé(e) par téléphone",
        required=False,
    )
    phone = forms.CharField(
        label="Numéro de téléphone",
        help_text="Obligatoire si vous demandez à être rappelé(e). Par exemple 01 23 45 67 89.",
        required=False,
        max_length=25,
    )
    error = forms.CharField(widget=forms.HiddenInput, required=False, max_length=ERROR_MAX_LENGTH)
    jeton = forms.CharField(widget=forms.HiddenInput, required=False)
    # The honeypot: hidden by CSS and from assistive technologies; people leave it empty, robots fill it.
    site_web = forms.CharField(
        label="Ne pas remplir ce champ",
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, pharmacy: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pharmacy = pharmacy
        self.token_rejected = False
        if pharmacy is not None:
            # The officine is known: its FINESS is attached automatically, the name is optional.
            del self.fields["finess"]
            self.fields["name"].required = False
            self.fields["name"].label = "Vos nom et prénom (facultatif)"
        if not self.is_bound:
            self.initial.setdefault("jeton", form_token_issue())

    def clean_finess(self) -> str:
        value = normalize_identifier(self.cleaned_data.get("finess", ""))
        if value:
            validate_finess(value)
        return value

    def clean_phone(self) -> str:
        value = normalize_phone(self.cleaned_data.get("phone", ""))
        if value and not PHONE_RE.match(value):
            raise ValidationError("Saisissez un numéro de téléphone valide, par exemple 01 23 45 67 89.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("callback_requested") and not cleaned.get("phone") and "phone" not in self.errors:
            self.add_error("phone", "Indiquez le numéro de téléphone auquel vous rappeler.")
        if cleaned.get(HONEYPOT_FIELD):
            raise ValidationError("Votre demande n'a pas pu être envoyée. Réessayez, ou écrivez-nous par e-mail.")
        check = form_token_check(cleaned.get("jeton", ""))
        if check.error:
            self.reject_token(check.error)
        else:
            cleaned["nonce"] = check.nonce
        return cleaned

    def reject_token(self, message: str) -> None:
        """Refuse this submission's token and give the form a new one for the next attempt."""
        self.add_error(None, message)
        self.token_rejected = True
        self.data = self.data.copy()
        self.data["jeton"] = form_token_issue()


class SupportRequestAdminForm(forms.ModelForm):
    """The support desk works a request through this form: status, assignment, a reply for the
    requester, an internal note. The admin hands each change to a service; nothing is saved directly."""

    reply = forms.CharField(
        label="Répondre au demandeur",
        help_text="Envoyé par e-mail au demandeur et visible par l'officine dans « Mes demandes ».",
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
    )
    internal_note = forms.CharField(
        label="Note interne",
        help_text="Visible du support seulement, jamais montrée ni envoyée au demandeur.",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )

    class Meta:
        model = SupportRequest
        fields = ["status", "assigned_to"]

    def clean_status(self) -> str:
        status = self.cleaned_data["status"]
        current = self.instance.status
        if status != current and status not in ALLOWED_TRANSITIONS[current]:
            raise ValidationError(
                "Une demande « %(current)s » ne peut pas passer à « %(target)s ».",
                params={"current": self.instance.get_status_display(), "target": SupportRequest.Status(status).label},
            )
        return status

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if (
            cleaned.get("reply", "").strip()
            and self.instance.status == SupportRequest.Status.CLOSED
            and (cleaned.get("status") == SupportRequest.Status.CLOSED)
        ):
            self.add_error("reply", "Cette demande est close : rouvrez-la (« En cours de traitement ») pour répondre.")
        return cleaned


class HelpDocumentAdminForm(forms.ModelForm):
    class Meta:
        model = HelpDocument
        fields = ["title", "description", "file", "is_published", "sort_order"]
        widgets = {"file": forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"})}
