from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "vaccine_orders.audit"
    label = "audit"
    verbose_name = "Journal d'audit"
