"""The reports' one domain exception and its messages (French, shown to the agent as they are)."""

from __future__ import annotations

ERRORS = {
    "out_of_scope": "Ce périmètre n'existe pas ou ne vous est pas accessible.",
    "inconsistent": "Le département ou l'officine choisis n'appartiennent pas à la région ou au département choisis.",
    "not_an_ars_agent": "Seuls les agents des ARS peuvent s'abonner au rapport quotidien de leur région.",
    "no_email": "Votre compte n'a pas d'adresse e-mail : le rapport quotidien ne peut pas vous être envoyé.",
}


class ReportError(Exception):
    def __init__(self, code: str, message: str | None = None) -> None:
        self.code = code
        self.message = message or ERRORS[code]
        super().__init__(self.message)


class ReportScopeError(ReportError):
    """A region, department or officine unknown or outside what the agent may see ("out_of_scope": the
    views answer 404), or choices that contradict each other ("inconsistent": a message, no figures)."""

    def __init__(self, code: str = "out_of_scope") -> None:
        super().__init__(code)
