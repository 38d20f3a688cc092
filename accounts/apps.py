from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Comptes et officines"

    def ready(self) -> None:
        from allauth.mfa.signals import authenticator_added

        from . import admin_site
        from .roles import sync_roles_after_migrate
        from .signals import record_enrolled_second_factor

        post_migrate.connect(sync_roles_after_migrate, sender=self, dispatch_uid="accounts_sync_roles")
        authenticator_added.connect(record_enrolled_second_factor, dispatch_uid="accounts_enrolled_second_factor")
        admin_site.install()
