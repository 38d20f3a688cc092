"""Forms of the calendar app: they read input and name fields; the rules are in services."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import date, datetime, time

from django import forms
from django.core.exceptions import ValidationError

from effectors.models import EffectorType
from vaccine_orders.orders.models import Product

from .errors import SessionError
from .formatting import WEEKDAYS
from .models import CapRule, OrderSession, PilotGroup
from .rules import RANK_SUFFIX, Cell, ProductRules, SessionRules, cell_field, product_field, ranks_for
from .services.calendar import CalendarSpec, HolidayPolicy, Rhythm, session_check

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME_INPUT = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
WEEKDAY_CHOICES = [(str(i), name.capitalize()) for i, name in enumerate(WEEKDAYS)]


def _read_upload(upload) -> bytes:
    return b"".join(upload.chunks()) if upload else b""


def parse_dates(raw: str) -> tuple[list[date], list[str]]:
    """Dates written JJ/MM/AAAA (or AAAA-MM-JJ), one per line or separated by commas or semicolons."""
    found, bad = [], []
    for token in re.split(r"[\s,;]+", raw or ""):
        if not token:
            continue
        for pattern in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
            try:
                found.append(datetime.strptime(token, pattern).date())  # noqa: DTZ007 - a calendar date, no time
                break
            except ValueError:
                continue
        else:
            bad.append(token)
    return found, bad


class CalendarGenerateForm(forms.Form):
    first_week = forms.DateField(
        label="Première semaine",
        widget=DATE_INPUT,
        help_text="N'importe quel jour de la semaine de la première session (son lundi, par exemple).",
    )
    last_week = forms.DateField(label="Dernière semaine", widget=DATE_INPUT, help_text="Incluse.")
    rhythm = forms.ChoiceField(label="Rythme", choices=Rhythm.choices, initial=Rhythm.WEEKLY, widget=forms.RadioSelect)
    closed_weeks = forms.CharField(
        label="Semaines fermées",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 30}),
        help_text="Une date par ligne (JJ/MM/AAAA), n'importe quel jour de la semaine fermée. Elles apparaîtront "
        "« Fermé » sur le calendrier publié.",
    )
    opening_weekday = forms.TypedChoiceField(label="Jour d'ouverture", choices=WEEKDAY_CHOICES, coerce=int, initial="0")
    opening_time = forms.TimeField(label="Heure d'ouverture", initial=time(8), widget=TIME_INPUT)
    closing_after_days = forms.IntegerField(
        label="Fermeture : jours après l'ouverture",
        min_value=0,
        max_value=6,
        initial=1,
        help_text="1 : ouverture le lundi, fermeture le mardi.",
    )
    closing_time = forms.TimeField(label="Heure de fermeture", initial=time(23), widget=TIME_INPUT)
    confirmation_after_days = forms.IntegerField(
        label="Publication des confirmations : jours après la fermeture", min_value=0, max_value=6, initial=1
    )
    confirmation_time = forms.TimeField(
        label="Heure de publication des confirmations", initial=time(18), widget=TIME_INPUT
    )
    delivery_start_after_days = forms.IntegerField(
        label="Livraison indicative : du jour J +",
        min_value=1,
        max_value=60,
        initial=10,
        help_text="J est le jour d'ouverture : J+10 est le jeudi de la semaine suivante.",
    )
    delivery_end_after_days = forms.IntegerField(
        label="Livraison indicative : au jour J +", min_value=1, max_value=60, initial=11
    )
    holiday_policy = forms.ChoiceField(
        label="Jours fériés", choices=HolidayPolicy.choices, initial=HolidayPolicy.SHIFT, widget=forms.RadioSelect
    )
    pilot_group = forms.ModelChoiceField(
        label="Réserver les sessions au groupe pilote",
        queryset=PilotGroup.objects.all(),
        required=False,
        empty_label="Non : toutes les officines",
    )

    def clean_closed_weeks(self) -> list[date]:
        found, bad = parse_dates(self.cleaned_data.get("closed_weeks", ""))
        if bad:
            raise ValidationError(
                "Dates illisibles : %(bad)s. Écrivez-les JJ/MM/AAAA, une par ligne.", params={"bad": ", ".join(bad[:5])}
            )
        return found

    def spec(self) -> CalendarSpec:
        data = self.cleaned_data
        return CalendarSpec(
            first_week=data["first_week"],
            last_week=data["last_week"],
            rhythm=data["rhythm"],
            closed_weeks=frozenset(data["closed_weeks"]),
            opening_weekday=data["opening_weekday"],
            opening_time=data["opening_time"],
            closing_after_days=data["closing_after_days"],
            closing_time=data["closing_time"],
            confirmation_after_days=data["confirmation_after_days"],
            confirmation_time=data["confirmation_time"],
            delivery_start_after_days=data["delivery_start_after_days"],
            delivery_end_after_days=data["delivery_end_after_days"],
            holiday_policy=data["holiday_policy"],
            pilot_group_id=data["pilot_group"].pk if data.get("pilot_group") else None,
        )

    def add_service_errors(self, error: SessionError) -> None:
        for name, messages in error.field_errors.items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        if not error.field_errors:
            for message in error.all_messages():
                self.add_error(None, message)


class OrderSessionAdminForm(forms.ModelForm):
    """The change form of one session: the guards of `session_check` become field errors."""

    class Meta:
        model = OrderSession
        fields = [
            "opens_at",
            "closes_at",
            "confirmation_published_at",
            "delivery_start",
            "delivery_end",
            "is_closed_week",
            "pilot_group",
            "holiday_note",
            "notes",
        ]

    def _post_clean(self) -> None:
        super()._post_clean()
        if any(name in self.errors for name in ("opens_at", "closes_at")):
            return
        try:
            session_check(session=self.instance)
        except SessionError as error:
            for name, messages in error.field_errors.items():
                for message in messages:
                    if message not in self.errors.get(name, []):
                        self.add_error(name if name in self.fields else None, message)


# --- the rules grid --------------------------------------------------------------------------------

MODE_CHOICES = [("", "— pas de règle")] + [(value, label) for value, label in CapRule.Mode.choices]


@dataclass
class GridColumn:
    product: Product
    rank: int

    @property
    def rank_label(self) -> str:
        return {0: "Toutes injections", 1: "1re injection", 2: "2nde injection"}[self.rank]


class SessionRulesForm(forms.Form):
    """The grid products × effector types (× injection rank), with per product "open", national stock and
    box size. Field names come from `rules.product_field` / `rules.cell_field`, which the service's error
    messages also use, so each refusal appears beside its cell."""

    def __init__(
        self,
        *args,
        products: list[Product],
        types: list[EffectorType],
        rules: SessionRules | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.products = products
        self.types = types
        rules = rules or {}
        self.columns = [GridColumn(p, rank) for p in products for rank in ranks_for(p.has_injection_rank)]
        for product in products:
            entry = rules.get(product.pk, ProductRules())
            name = product.short_name
            self.fields[product_field(product.pk, "open")] = forms.BooleanField(
                required=False, initial=entry.is_open, label=f"{name} : ouvert à la commande"
            )
            self.fields[product_field(product.pk, "stock")] = forms.IntegerField(
                required=False,
                min_value=1,
                initial=entry.national_stock,
                label=f"{name} : stock national",
                widget=forms.NumberInput(
                    attrs={"class": "vIntegerField rules-number", "aria-label": f"{name} : stock national"}
                ),
            )
            self.fields[product_field(product.pk, "box")] = forms.IntegerField(
                required=False,
                min_value=1,
                max_value=10_000,
                initial=entry.box_size,
                label=f"{name} : commande par boîtes de",
                widget=forms.NumberInput(
                    attrs={"class": "rules-number", "aria-label": f"{name} : commande par boîtes de"}
                ),
            )
            for rank in ranks_for(product.has_injection_rank):
                for effector_type in types:
                    cell = entry.cells.get((effector_type.pk, rank))
                    where = f"{name}{RANK_SUFFIX[rank]} – {effector_type.label}"
                    self.fields[cell_field(product.pk, rank, effector_type.pk, "mode")] = forms.ChoiceField(
                        required=False,
                        choices=MODE_CHOICES,
                        initial=cell.mode if cell else "",
                        label=f"{where} : règle",
                        widget=forms.Select(attrs={"aria-label": f"{where} : règle"}),
                    )
                    self.fields[cell_field(product.pk, rank, effector_type.pk, "limit")] = forms.IntegerField(
                        required=False,
                        min_value=1,
                        initial=cell.limit if cell else None,
                        label=f"{where} : plafond",
                        widget=forms.NumberInput(
                            attrs={"class": "rules-number", "aria-label": f"{where} : plafond (N)"}
                        ),
                    )

    # What the template walks through.
    def product_headers(self) -> list[dict]:
        return [
            {
                "product": p,
                "span": len(ranks_for(p.has_injection_rank)),
                "open": self[product_field(p.pk, "open")],
                "stock": self[product_field(p.pk, "stock")],
                "box": self[product_field(p.pk, "box")],
            }
            for p in self.products
        ]

    def grid_rows(self) -> list[dict]:
        rows = []
        for effector_type in self.types:
            cells = []
            for column in self.columns:
                cells.append(
                    {
                        "column": column,
                        "mode": self[cell_field(column.product.pk, column.rank, effector_type.pk, "mode")],
                        "limit": self[cell_field(column.product.pk, column.rank, effector_type.pk, "limit")],
                    }
                )
            rows.append({"type": effector_type, "cells": cells})
        return rows

    def rules(self) -> SessionRules:
        """The grid as entered (contradictions included: the service reports them)."""
        data = self.cleaned_data
        rules: SessionRules = {}
        for product in self.products:
            entry = ProductRules(
                is_open=bool(data.get(product_field(product.pk, "open"))),
                national_stock=data.get(product_field(product.pk, "stock")),
                box_size=data.get(product_field(product.pk, "box")),
            )
            for rank in ranks_for(product.has_injection_rank):
                for effector_type in self.types:
                    mode = data.get(cell_field(product.pk, rank, effector_type.pk, "mode")) or ""
                    limit = data.get(cell_field(product.pk, rank, effector_type.pk, "limit"))
                    if mode:
                        entry.cells[(effector_type.pk, rank)] = Cell(mode, limit)
                    elif limit is not None:
                        self.add_error(
                            cell_field(product.pk, rank, effector_type.pk, "limit"),
                            f"{product.short_name}{RANK_SUFFIX[rank]} / {effector_type.label} : un plafond est "
                            "saisi sans règle ; choisissez « par effecteur » ou « par officine ».",
                        )
            rules[product.pk] = entry
        return rules

    def add_service_errors(self, error: SessionError) -> None:
        placed = set()
        for name, messages in error.field_errors.items():
            if name in self.fields:
                for message in messages:
                    self.add_error(name, message)
                    placed.add(message)
        for message in error.all_messages():
            if message not in placed:
                self.add_error(None, message)

    def error_summary(self) -> list[tuple[str, str]]:
        """(field id, message) for the list at the top of the page, each linking to its cell."""
        summary = []
        for name, errors in self.errors.items():
            for message in errors:
                summary.append(("" if name == "__all__" else self[name].auto_id, message))
        return summary


# --- pilot groups, DGS import, reminders -------------------------------------------------------------


def decode_text(content: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    return content.decode("utf-8", errors="replace")  # pragma: no cover - cp1252 decodes nearly anything


class PilotImportForm(forms.Form):
    finess_list = forms.CharField(
        label="Numéros FINESS",
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "cols": 40}),
        help_text="Collez la liste : un FINESS géographique par ligne, ou séparés par des virgules, "
        "points-virgules ou espaces (une colonne copiée d'un tableur convient).",
    )
    upload = forms.FileField(
        label="ou un fichier", required=False, help_text="Fichier texte ou CSV contenant les numéros FINESS."
    )
    replace = forms.BooleanField(
        label="Remplacer la composition du groupe",
        required=False,
        help_text="Coché : les officines absentes de la liste sont retirées du groupe. Sinon, la liste s'ajoute.",
    )

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        if upload and upload.size > 2_000_000:
            raise ValidationError("Le fichier dépasse 2 Mo : une liste de FINESS tient en quelques ko.")
        return upload

    def clean(self):
        data = super().clean()
        text = data.get("finess_list") or ""
        if data.get("upload"):
            text += "\n" + decode_text(_read_upload(data["upload"]))
        if not text.strip():
            raise ValidationError("Collez une liste de numéros FINESS ou choisissez un fichier.")
        data["text"] = text
        return data


class DgsImportForm(forms.Form):
    upload = forms.FileField(
        label="Tableau CSV",
        required=False,
        help_text="Types d'effecteurs en lignes, produits en colonnes (une colonne par rang d'injection pour les "
        "produits qui en ont), comme les tableaux des DGS-Urgent. Séparateur : point-virgule, virgule ou tabulation.",
    )
    close_missing = forms.BooleanField(
        label="Fermer les produits absents du tableau",
        required=False,
        help_text="Non coché : les produits sans colonne gardent leurs règles actuelles.",
    )
    content = forms.CharField(required=False, widget=forms.HiddenInput)
    fingerprint = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if data.get("upload"):
            upload = data["upload"]
            if upload.size > 200_000:
                raise ValidationError("Le fichier dépasse 200 ko : un tableau DGS tient en quelques ko.")
            data["bytes"] = _read_upload(upload)
        elif data.get("content"):
            try:
                data["bytes"] = base64.b64decode(data["content"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValidationError(
                    "Le contenu de l'aperçu est illisible : choisissez à nouveau le fichier."
                ) from exc
        else:
            raise ValidationError("Choisissez le fichier CSV du tableau.")
        return data

    @staticmethod
    def encode(content: bytes) -> str:
        return base64.b64encode(content).decode()


class ReminderPreferenceForm(forms.Form):
    reminders_enabled = forms.BooleanField(
        label="Recevoir un e-mail de rappel le dernier après-midi de chaque session si mon officine n'a pas "
        "encore commandé",
        required=False,
    )
