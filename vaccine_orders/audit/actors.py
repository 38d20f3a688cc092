"""Who acts: the account, and the person or process behind it (a titulaire's PSC identity, the e-mail
code login, an SpF agent, a scheduled job)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest

    from accounts.models import User

# The login stores the acting identity here (e.g. "Claire Martin – RPPS 10001045367 (Pro Santé Connect)").
SESSION_ACTOR_LABEL_KEY = "actor_label"


@dataclass(frozen=True)
class Actor:
    user: User | None
    label: str

    @classmethod
    def system(cls, label: str = "Système") -> Actor:
        return cls(user=None, label=label)


def actor_from_request(request: HttpRequest) -> Actor:
    user = request.user if request.user.is_authenticated else None
    label = request.session.get(SESSION_ACTOR_LABEL_KEY, "") if hasattr(request, "session") else ""
    if not label and user is not None:
        label = user.get_full_name() or user.email or user.get_username()
    return Actor(user=user, label=label or "Anonyme")
