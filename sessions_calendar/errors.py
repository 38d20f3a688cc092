"""The one domain exception of the calendar app, and its French messages."""

from __future__ import annotations

MESSAGES = {
    "closes_before_opening": "La fermeture ({closes}) doit être postérieure à l'ouverture ({opens}).",
    "confirmation_before_closing": (
        "Les confirmations ({confirmation}) ne peuvent pas être publiées avant la fermeture ({closes})."
    ),
    "delivery_end_before_start": "La fin de la livraison indicative ({end}) précède son début ({start}).",
    "overlap": (
        "Cette période chevauche la {other} ({opens} → {closes}) : deux sessions ne peuvent pas se "
        "recouvrir. Modifiez les dates ou la session existante."
    ),
    "overlap_race": (
        "Une autre session vient d'être enregistrée sur cette période : deux sessions ne peuvent pas se "
        "recouvrir. Rechargez la page pour la voir."
    ),
    "closed_session_window": (
        "La session est close depuis le {closed} : ses dates d'ouverture et de fermeture ne peuvent plus "
        "être modifiées."
    ),
    "closed_week_with_offers": (
        "Cette session a des produits ouverts à la commande : retirez-les (page « Règles de la session ») "
        "avant d'en faire une semaine fermée."
    ),
    "closed_week_with_orders": "Des officines ont déjà commandé dans cette session : elle ne peut pas devenir "
    "une semaine fermée.",
    "rules_closed_session": (
        "La session du {dates} est close depuis le {closed} : ses règles ne peuvent plus être modifiées "
        "(les commandes sont en cours de confirmation)."
    ),
    "rules_closed_week": (
        "La semaine du {dates} est fermée à la commande : aucun produit ne peut y être ouvert. Décochez "
        "« semaine fermée » sur la session d'abord."
    ),
    "rules_invalid": "Les règles n'ont pas été enregistrées : corrigez les points signalés.",
    "rules_stale": (
        "Les règles de la session ont été modifiées depuis l'aperçu : relancez l'aperçu avant de confirmer."
    ),
    "no_previous_session": "Aucune session précédente n'a de règles à copier.",
}


class SessionError(Exception):
    """A refused change to the calendar, the rules or the pilot groups; nothing was written.

    `errors` lists every reason (French, self-contained, shown at the top of the page); `field_errors`
    places the same reasons next to the form fields they concern.
    """

    def __init__(
        self,
        message: str,
        *,
        errors: list[str] | None = None,
        field_errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.field_errors = field_errors or {}

    def all_messages(self) -> list[str]:
        return self.errors or [self.message]
