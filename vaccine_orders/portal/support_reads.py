"""Journal every read of an officine's data by the support desk, wherever it happens.

The support's own page (`support_pharmacy_file`) journals each display. The support groups may also hold
view-only permissions on admin pages of an officine's data (orders, order lines, effectors, attachments):
those admins add `SupportReadLogAdminMixin` so that opening a record or a list there is journaled too.

    @admin.register(Order)
    class OrderAdmin(SupportReadLogAdminMixin, admin.ModelAdmin):
        support_read_pharmacy = "pharmacy"          # the path from a record to its officine
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse

from vaccine_orders.audit.actors import actor_from_request
from vaccine_orders.audit.services import audit_record

from .access import PHARMACY_FILE_PERMISSION


def is_support_reader(request: HttpRequest) -> bool:
    """A support agent (level 1 or 2): holds the support's read permission. Superusers are SpF admins."""
    user = request.user
    return bool(user.is_authenticated and not user.is_superuser and user.has_perm(PHARMACY_FILE_PERMISSION))


class SupportReadLogAdminMixin:
    """For a ModelAdmin of an officine's data: a support agent's GET of a record or of the list leaves an
    audit event ("support.admin_record_viewed" / "support.admin_list_viewed")."""

    # Dotted or double-underscore path from a record to its Pharmacy, e.g. "order__pharmacy".
    support_read_pharmacy: str = "pharmacy"

    def support_read_pharmacy_of(self, obj: Any) -> Any:
        try:
            return attrgetter(self.support_read_pharmacy.replace("__", "."))(obj)
        except AttributeError:
            return None

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        if request.method == "GET" and response.status_code == 200 and is_support_reader(request):
            obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
            if obj is not None:
                audit_record(
                    actor=actor_from_request(request),
                    action="support.admin_record_viewed",
                    target=obj,
                    pharmacy=self.support_read_pharmacy_of(obj),
                    summary=f"Consultation par le support (administration, lecture seule) : {obj}",
                )
        return response

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        if request.method == "GET" and response.status_code == 200 and is_support_reader(request):
            opts = self.model._meta  # type: ignore[attr-defined]
            query = request.GET.urlencode()
            audit_record(
                actor=actor_from_request(request),
                action="support.admin_list_viewed",
                summary=(
                    f"Consultation par le support de la liste « {opts.verbose_name_plural} »"
                    + (f" ({query})" if query else "")
                )[:2000],
            )
        return response
