from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Crée (ou complète) le jeu de données de démonstration. Idempotent : relancer ne duplique rien."

    def handle(self, *args, **options) -> None:
        from vaccine_orders.demo import DemoSeeder

        report = DemoSeeder().run()
        if report.created:
            summary = ", ".join(f"{count} {name}" for name, count in sorted(report.created.items()))
            self.stdout.write(self.style.SUCCESS(f"Données de démonstration créées : {summary}."))
        else:
            self.stdout.write("Données de démonstration déjà présentes : rien à créer.")
