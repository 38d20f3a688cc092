"""allauth discovers providers by importing "<app>.provider" for every installed app: Pro Santé Connect lives
in accounts.psc."""

from accounts.psc.provider import provider_classes  # noqa: F401
