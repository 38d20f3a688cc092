"""The named error states of attachments and transfers: one exception, a code per state, French messages.

Views turn a code into a page that says what happened and what to do next (effectors/error_state.html);
the admin and the CSV import show the message.
"""

from __future__ import annotations

from typing import Any


class EffectorError(Exception):
    ALREADY_ATTACHED_ELSEWHERE = "already_attached_elsewhere"
    ALREADY_ATTACHED_HERE = "already_attached_here"
    NOT_FOUND = "not_found"
    INACTIVE = "inactive"
    NOT_ATTACHABLE = "not_attachable"
    OWN_LINE = "own_line"
    NOT_ATTACHED = "not_attached"
    TRANSFER_PENDING = "transfer_pending"
    TRANSFER_NOT_PENDING = "transfer_not_pending"
    TRANSFER_NOT_OVERDUE = "transfer_not_overdue"
    TRANSFER_STALE = "transfer_stale"
    NO_MAILING = "no_mailing"

    def __init__(self, code: str, message: str, **context: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


# The title of each state, as the user sees it.
STATE_TITLES = {
    EffectorError.ALREADY_ATTACHED_ELSEWHERE: "Déjà rattaché à une autre officine",
    EffectorError.ALREADY_ATTACHED_HERE: "Déjà rattaché à votre officine",
    EffectorError.NOT_FOUND: "Introuvable dans le référentiel",
    EffectorError.INACTIVE: "Inactif dans le référentiel",
    EffectorError.NOT_ATTACHABLE: "Rattachement impossible",
    EffectorError.OWN_LINE: "Ligne propre à l'officine",
    EffectorError.NOT_ATTACHED: "Rattachement introuvable",
    EffectorError.TRANSFER_PENDING: "Demande de transfert déjà en cours",
    EffectorError.TRANSFER_NOT_PENDING: "Demande de transfert déjà traitée",
    EffectorError.TRANSFER_NOT_OVERDUE: "Délai de réponse non écoulé",
    EffectorError.TRANSFER_STALE: "Demande de transfert dépassée",
    EffectorError.NO_MAILING: "Pas d'envoi par e-mail pour ce type",
}
