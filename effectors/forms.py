"""Forms of "Mes effecteurs" and of the referential imports' admin upload."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from dsfr.forms import DsfrBaseForm

from accounts.models import Department
from vaccine_orders.identifiers import normalize_identifier

from .models import ReferentialImport
from .selectors import looks_like_identifier
from .services import validate_identifier_key


class SearchForm(DsfrBaseForm):
    q = forms.CharField(
        label="Numéro RPPS, numéro FINESS ou nom",
        help_text="Par exemple 10101234567 (RPPS, 11 chiffres), 750712345 (FINESS, 9 caractères) ou DUPONT.",
        max_length=100,
        error_messages={"required": "Saisissez un numéro RPPS, un numéro FINESS ou un nom."},
    )
    departement = forms.ModelChoiceField(
        label="Département",
        queryset=Department.objects.order_by("code"),
        required=False,
        empty_label="Tous les départements",
        help_text="Pour une recherche par nom : limite les résultats à un département.",
    )

    def clean_q(self) -> str:
        query = " ".join(self.cleaned_data["q"].split())
        if looks_like_identifier(query):
            identifier = normalize_identifier(query)
            validate_identifier_key(identifier)
            return identifier
        if len(query) < 2:
            raise ValidationError("Saisissez au moins 2 lettres du nom.")
        return query


class IdentifierForm(forms.Form):
    """The hidden field of the "Rattacher" and "Demander le transfert" buttons."""

    identifiant = forms.CharField(max_length=20)

    def clean_identifiant(self) -> str:
        identifier = normalize_identifier(self.cleaned_data["identifiant"])
        validate_identifier_key(identifier)
        return identifier


class ContactEmailForm(DsfrBaseForm):
    email = forms.EmailField(
        label="Adresse e-mail de contact",
        required=False,
        max_length=254,
        help_text=(
            "Le vendredi, Santé publique France y envoie le récapitulatif des flacons commandés pour ce "
            "professionnel. Laissez vide pour ne plus rien envoyer."
        ),
        error_messages={"invalid": "Saisissez une adresse e-mail valide, par exemple nom@domaine.fr."},
    )


class ReferentialImportForm(forms.ModelForm):
    class Meta:
        model = ReferentialImport
        fields = ["kind", "source_file", "allow_mass_deactivation"]

    def clean_source_file(self):
        upload = self.cleaned_data.get("source_file")
        if not upload:
            raise ValidationError("Choisissez le fichier de l'extraction à importer.")
        name = upload.name.lower()
        if not name.endswith((".txt", ".csv", ".zip")):
            raise ValidationError("Le fichier doit être l'extraction publiée : .txt (RPPS), .csv (FINESS) ou .zip.")
        return upload
