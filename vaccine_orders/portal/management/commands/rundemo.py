"""`make run`: the demo service on http://127.0.0.1:8000 and, beside it, a demo Pro Santé Connect."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Sert le service de démonstration sur http://127.0.0.1:8000 (make run), avec un Pro Santé Connect de "
        "démonstration (fournisseur OpenID Connect local) pour se connecter comme pharmacien."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--sans-psc", action="store_true", help="ne pas démarrer le PSC de démonstration")

    def handle(self, *args, addr: str, sans_psc: bool = False, **options) -> None:
        psc_url = settings.PSC_SERVER_URL
        provider = None
        if not sans_psc:
            from accounts.psc.devserver import start_demo_provider

            try:
                provider = start_demo_provider(psc_url)
            except ImportError:
                self.stderr.write("oidc-provider-mock n'est pas installé (dépendance de développement) : pas de PSC.")
            except OSError as exc:
                self.stderr.write(f"Le PSC de démonstration n'a pas pu démarrer sur {psc_url} : {exc}")
        self.stdout.write(self.style.SUCCESS(f"Commande de vaccins : http://{addr}/"))
        if provider is not None:
            from accounts.psc.identities import demo_identities

            self.stdout.write(
                f"Pro Santé Connect de démonstration : {psc_url} (bouton « Se connecter avec Pro Santé Connect », "
                "puis choisir une identité) :"
            )
            for identity in demo_identities():
                self.stdout.write(f"  - {identity.title} : {identity.description}")
        else:
            self.stdout.write(f"Pro Santé Connect : {psc_url or 'non configuré'}")
        from vaccine_orders.demo import DEMO_AGENT_PASSWORD

        code = getattr(settings, "MFA_TOTP_INSECURE_BYPASS_CODE", None) or "celui de votre application TOTP"
        self.stdout.write(
            f"Agents (page « Connexion agents ») : admin@demo.commande-vaccins.example / admin-demo, "
            f"logistique@, support1@, support2@, ars-idf@demo.commande-vaccins.example / {DEMO_AGENT_PASSWORD} ; "
            f"code de double authentification : {code}"
        )
        call_command("runserver", addr, use_reloader=False)
