"""The reports' filters (GET forms: a report is a link that can be bookmarked or shared with a colleague of
the same region). The scope fields (région, département, officine) are checked against the agent's own
scope by selectors.report_scope_for before anything is read."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django import forms
from dsfr.forms import DsfrBaseForm

from accounts.models import Region, User
from vaccine_orders.orders.models import Product

from .selectors import (
    DEFAULT_DIMENSIONS,
    DIMENSIONS,
    ReportPeriod,
    departments_in_scope,
    sessions_for_choice,
    user_region_id,
)

MAX_PERIOD_DAYS = 366
DIMENSION_CHOICES = [(key, DIMENSIONS[key].label) for key in ("type", "product", "department", "pharmacy", "session")]


class SessionChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"Session du {obj.label_dates}"


class PeriodFormMixin(forms.Form):
    periode = forms.ChoiceField(
        label="Période",
        choices=[("dates", "Par dates"), ("sessions", "Par sessions de commande")],
        initial="dates",
        widget=forms.RadioSelect,
        required=False,
    )
    du = forms.DateField(
        label="Du",
        required=False,
        help_text="Jour de la dernière validation de la commande (heure de Paris).",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Saisissez une date valide, par exemple 07/03/2022."},
    )
    au = forms.DateField(
        label="Au",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Saisissez une date valide, par exemple 13/03/2022."},
    )
    sessions = SessionChoiceField(
        label="Sessions",
        queryset=None,
        required=False,
        help_text="Toutes les commandes des sessions choisies, quelle que soit leur date de validation.",
        error_messages={"invalid_choice": "Cette session n'existe pas.", "invalid_pk_value": "Session inconnue."},
    )

    def setup_period(self, *, today: date, at: datetime) -> None:
        self.today = today
        self.fields["sessions"].queryset = sessions_for_choice(at=at)
        self.fields["du"].initial = today - timedelta(days=6)
        self.fields["au"].initial = today

    def clean_period(self, cleaned: dict) -> None:
        if cleaned.get("periode") == "sessions":
            if not cleaned.get("sessions"):
                self.add_error("sessions", "Choisissez au moins une session.")
            return
        start = cleaned.get("du") or (None if "du" in self.errors else self.fields["du"].initial)
        end = cleaned.get("au") or (None if "au" in self.errors else self.fields["au"].initial)
        if start is None or end is None:
            return
        if start > end:
            self.add_error("au", "La fin de la période doit suivre son début.")
        elif (end - start).days >= MAX_PERIOD_DAYS:
            self.add_error("au", "La période ne peut dépasser un an.")
        cleaned["du"], cleaned["au"] = start, end

    def period(self) -> ReportPeriod:
        cleaned = self.cleaned_data
        if cleaned.get("periode") == "sessions":
            return ReportPeriod(sessions=tuple(cleaned["sessions"]))
        return ReportPeriod(start=cleaned["du"], end=cleaned["au"])


class ScopeFormMixin(forms.Form):
    region = forms.ChoiceField(label="Région", required=False)
    departement = forms.ChoiceField(label="Département", required=False)
    officine = forms.CharField(
        label="Officine (n° FINESS)", required=False, max_length=20, help_text="Facultatif : 9 caractères."
    )

    def setup_scope(self, *, user: User) -> None:
        if user_region_id(user) is None:
            self.fields["region"].choices = [("", "France entière")] + [
                (r.code, r.name) for r in Region.objects.order_by("name")
            ]
        else:
            del self.fields["region"]  # an ARS agent's region is theirs, not a choice
        self.fields["departement"].choices = [("", "Tous les départements")] + [
            (d.code, str(d)) for d in departments_in_scope(user=user)
        ]


class ReportForm(DsfrBaseForm, PeriodFormMixin, ScopeFormMixin):
    ventilation = forms.MultipleChoiceField(
        label="Ventilation",
        choices=DIMENSION_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Une ligne par combinaison des critères cochés.",
    )
    produit = forms.ModelChoiceField(
        label="Produit",
        queryset=Product.objects.order_by("sort_order", "name"),
        to_field_name="code",
        required=False,
        empty_label="Tous les produits",
        error_messages={"invalid_choice": "Ce produit n'existe pas."},
    )

    def __init__(self, *args, user: User, today: date, at: datetime, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setup_period(today=today, at=at)
        self.setup_scope(user=user)
        self.fields["ventilation"].initial = list(DEFAULT_DIMENSIONS)

    def clean(self) -> dict:
        cleaned = super().clean()
        self.clean_period(cleaned)
        if not cleaned.get("ventilation"):
            cleaned["ventilation"] = list(DEFAULT_DIMENSIONS)
        return cleaned


class RequisitionForm(DsfrBaseForm, PeriodFormMixin, ScopeFormMixin):
    produit = forms.ModelChoiceField(
        label="Produit",
        queryset=Product.objects.order_by("sort_order", "name"),
        to_field_name="code",
        empty_label="Choisissez un produit",
        error_messages={"required": "Choisissez le produit à réquisitionner.", "invalid_choice": "Produit inconnu."},
    )

    def __init__(self, *args, user: User, today: date, at: datetime, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setup_period(today=today, at=at)
        self.setup_scope(user=user)
        del self.fields["officine"]  # the extract lists officines: it is asked for a department or a region

    def clean(self) -> dict:
        cleaned = super().clean()
        self.clean_period(cleaned)
        return cleaned


class DailyReportsFilterForm(DsfrBaseForm):
    region = forms.ChoiceField(label="Région", required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", "Toutes les régions")] + [
            (r.code, r.name) for r in Region.objects.order_by("name")
        ]
