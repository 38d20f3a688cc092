from django.apps import AppConfig


class SessionsCalendarConfig(AppConfig):
    name = "sessions_calendar"
    verbose_name = "Sessions de commande et plafonds"
