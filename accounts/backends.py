"""The authentication backends: Django's and allauth's, with the account of each request read through a
precompiled query (accounts.selectors.user_with_pharmacy) instead of an ORM query compiled at every request.

Sessions remember the backend that logged them in, so both are replaced in AUTHENTICATION_BACKENDS.
"""

from __future__ import annotations

from allauth.account.auth_backends import AuthenticationBackend as AllauthAuthenticationBackend
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend

from .selectors import user_with_pharmacy


class _PrecompiledUserMixin:
    def get_user(self, user_id):
        user = user_with_pharmacy(user_id=user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class ModelBackend(_PrecompiledUserMixin, DjangoModelBackend):
    pass


class AuthenticationBackend(_PrecompiledUserMixin, AllauthAuthenticationBackend):
    pass
