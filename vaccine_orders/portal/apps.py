from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "vaccine_orders.portal"
    label = "portal"
    verbose_name = "Portail : actualités, aide, paramètres du service"
