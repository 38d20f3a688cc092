"""Forms of the login pages and of "Visualiser compte"."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter
from allauth.account.forms import LoginForm, RequestLoginCodeForm, ResetPasswordForm
from allauth.account.models import EmailAddress
from allauth.core import context, ratelimit
from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError

from .models import Region, User
from .roles import ROLE_ARS, ROLES, STAFF_ROLES

FALLBACK_CLOSED = (
    "La connexion par code e-mail n'est ouverte que lorsque Pro Santé Connect est indisponible. "
    "Connectez-vous avec Pro Santé Connect."
)


class FallbackRequestCodeForm(RequestLoginCodeForm):
    """The e-mail code login of an officine, open only while SpF has switched "PSC indisponible".

    Only a verified officine address gets a code; any other address gets exactly the same answer (and allauth's
    "no account" e-mail), so the form reveals nothing about which addresses exist.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].label = "Adresse e-mail de votre officine"
        self.fields["email"].help_text = "L'adresse vérifiée lors de votre première connexion avec Pro Santé Connect."

    def clean(self) -> dict[str, Any]:
        from .adapters import psc_is_unavailable

        if not psc_is_unavailable():
            raise ValidationError(FALLBACK_CLOSED, code="fallback_closed")
        return super().clean()

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if not ratelimit.consume(context.request, action="request_login_code", key=email):
            raise get_adapter().validation_error("too_many_login_attempts")
        address = (
            EmailAddress.objects.filter(
                email__iexact=email, verified=True, user__is_active=True, user__pharmacy__isnull=False
            )
            .select_related("user")
            .first()
        )
        self._user = address.user if address else None
        return email


class AgentLoginForm(LoginForm):
    """The agents' e-mail and password, in the service's words."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["login"].label = "Adresse e-mail"
        self.fields["login"].widget.attrs.pop("placeholder", None)
        if "password" in self.fields:
            self.fields["password"].help_text = ""
            self.fields["password"].widget.attrs.pop("placeholder", None)


class StaffResetPasswordForm(ResetPasswordForm):
    """Password reset for agents only: an officine account has no password and must never get one."""

    def clean_email(self) -> str:
        email = super().clean_email()
        self.users = [user for user in self.users if not user.pharmacy_id]
        return email


class PharmacyEmailForm(forms.Form):
    email = forms.EmailField(
        label="Adresse e-mail de l'officine",
        help_text="Format attendu : nom@domaine.fr. Un code de vérification y sera envoyé.",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def __init__(self, *args: Any, current: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.current = current.lower()

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if self.current and email == self.current:
            raise ValidationError("C'est déjà l'adresse e-mail de l'officine.", code="same")
        return email


class EmailCodeForm(forms.Form):
    code = forms.CharField(
        label="Code de vérification",
        help_text="Le code reçu par e-mail, par exemple « BCDF-GHJK ».",
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "spellcheck": "false"}),
    )


class PharmacyChoiceForm(forms.Form):
    finess = forms.ChoiceField(label="Officine", widget=forms.RadioSelect)

    def __init__(self, *args: Any, pharmacies: list, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["finess"].choices = [(p.finess, f"{p.name} – {p.city} (FINESS {p.finess})") for p in pharmacies]


class AgentCreationForm(UserCreationForm):
    """SpF creates the accounts of its agents and of ARS agents (nobody signs up)."""

    role = forms.ChoiceField(label="Rôle", choices=[(name, name) for name in ROLES])
    region = forms.ModelChoiceField(label="Région (agents ARS)", queryset=Region.objects.all(), required=False)

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("email", "first_name", "last_name")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("email", "first_name", "last_name"):
            self.fields[name].required = True

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if (
            User.objects.filter(email__iexact=email).exists()
            or EmailAddress.objects.filter(email__iexact=email).exists()
        ):
            raise ValidationError("Un compte utilise déjà cette adresse e-mail.", code="email_taken")
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        role, region = cleaned.get("role"), cleaned.get("region")
        if role == ROLE_ARS and region is None:
            self.add_error("region", "Un agent ARS est rattaché à une région.")
        if role in STAFF_ROLES and region is not None:
            self.add_error("region", "Seuls les agents ARS sont rattachés à une région.")
        return cleaned
