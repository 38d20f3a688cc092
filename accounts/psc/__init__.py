"""Pro Santé Connect: the allauth provider, the claims rule, and the local demo provider."""
