"""The one domain exception of the app and its French messages (pretix `error_messages` style)."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "session_not_closed": "La session n'est pas encore fermée : les quantités ne peuvent pas être confirmées.",
    "order_not_registered": "Cette commande a été annulée : ses lignes ne peuvent pas être confirmées.",
    "quantity_negative": "La quantité doit être positive ou nulle.",
    "quantity_above_requested": "La quantité confirmée ne peut dépasser la quantité demandée ({requested}).",
    "reason_required": "Indiquez le motif de la réduction.",
    "below_delivered": "Cette ligne a déjà été livrée ({delivered}) : la quantité confirmée ne peut être inférieure.",
    "not_confirmed": "Cette ligne n'est pas encore confirmée : la livraison ne peut pas être enregistrée.",
    "delivered_above_confirmed": "La quantité livrée ne peut dépasser la quantité confirmée ({confirmed}).",
    "allocation_available_negative": "Le stock disponible doit être positif ou nul.",
    "allocation_rounding": "L'arrondi doit être d'au moins une unité.",
    "allocation_no_lines": "Aucune ligne de commande pour ce produit dans cette session.",
    "allocation_delivered": "Des livraisons sont déjà enregistrées pour ce produit : la répartition est impossible.",
    "allocation_stale": "Les commandes ont changé depuis l'aperçu : affichez un nouvel aperçu avant d'appliquer.",
    "delivery_date_before_close": "La date de livraison ne peut précéder la fermeture de la session ({closes}).",
    "export_not_generated": "Cet export n'est pas prêt : il ne peut pas être envoyé.",
    "export_no_recipient": "Aucune adresse de la logistique n'est configurée (LOGISTICS_EXPORT_EMAIL).",
}


class FulfilmentError(Exception):
    """A rule of confirmation, delivery, export or mailing refused the change; `message` is for the user."""

    def __init__(self, code: str, **params: object) -> None:
        self.code = code
        self.params = params
        self.message = ERROR_MESSAGES[code].format(**params)
        super().__init__(self.message)
