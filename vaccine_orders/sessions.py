"""Sessions in Redis (Django's cache sessions), where an unchanged session is not written again at each request.

SESSION_SAVE_EVERY_REQUEST keeps the 30-minute inactivity timeout sliding. For that, Django's cache store reads the
session again (to refuse re-creating one deleted meanwhile) and writes it whole, serialised, on every response: two
of the five Redis round trips of a "Valider". An unchanged session only needs its expiry pushed back: one EXPIRE,
which also says whether the session still exists.
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore


class SessionStore(CacheSessionStore):
    def save(self, must_create: bool = False) -> None:
        if must_create or self.modified or self.session_key is None:
            return super().save(must_create=must_create)
        if not self._cache.touch(self.cache_key, self.get_expiry_age()):
            raise UpdateError  # deleted meanwhile (logged out in another tab): as Django's own save says
        return None
