from __future__ import annotations

from django.contrib import admin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_label", "action", "target_repr", "pharmacy"]
    list_select_related = ["pharmacy"]
    list_filter = ["action"]
    search_fields = ["actor_label", "target_repr", "pharmacy__finess", "summary"]
    date_hierarchy = "created_at"
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    # The journal is written by the services only; nobody edits or deletes it by hand.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
