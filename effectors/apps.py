from django.apps import AppConfig


class EffectorsConfig(AppConfig):
    name = "effectors"
    verbose_name = "Effecteurs et référentiel"
