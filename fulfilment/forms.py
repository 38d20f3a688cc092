"""Forms of the logistics admin tools. They only validate input; the services decide."""

from __future__ import annotations

from django import forms

from accounts.models import Region
from vaccine_orders.orders.models import Product

from .services.confirmation import AllocationMethod

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class LineConfirmForm(forms.Form):
    quantity = forms.IntegerField(label="Quantité confirmée", min_value=0)
    reason = forms.CharField(
        label="Motif de réduction",
        required=False,
        max_length=255,
        help_text="Obligatoire si la quantité confirmée est inférieure à la quantité demandée.",
    )


class LineDeliverForm(forms.Form):
    quantity = forms.IntegerField(
        label="Quantité livrée", min_value=0, help_text="Inférieure à la quantité confirmée : livraison partielle."
    )


class AllocationForm(forms.Form):
    product = forms.ModelChoiceField(label="Produit", queryset=Product.objects.none())
    method = forms.ChoiceField(label="Règle de répartition", choices=AllocationMethod.CHOICES)
    available = forms.IntegerField(label="Stock disponible", min_value=0, help_text="Dans l'unité de commande.")
    rounding = forms.IntegerField(
        label="Arrondi (boîte de)", min_value=1, help_text="Les quantités confirmées sont des multiples de ce nombre."
    )
    fingerprint = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, products, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = products


class DeliveryDatesForm(forms.Form):
    default_date = forms.DateField(
        label="Date de livraison prévue (toutes régions)",
        required=False,
        widget=DATE_WIDGET,
        help_text="Vide : la fin de la livraison indicative du calendrier.",
    )

    def __init__(self, *args, regions: list[Region], **kwargs):
        super().__init__(*args, **kwargs)
        self.regions = regions
        for region in regions:
            self.fields[f"region_{region.pk}"] = forms.DateField(
                label=f"{region.name}", required=False, widget=DATE_WIDGET
            )

    def regional_dates(self) -> dict:
        return {region: self.cleaned_data.get(f"region_{region.pk}") for region in self.regions}
