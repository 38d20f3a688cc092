from __future__ import annotations

from django.contrib import admin

from vaccine_orders.portal.support_reads import SupportReadLogAdminMixin

from .models import Order, OrderLine, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "kind",
        "unit",
        "units_per_box",
        "doses_per_vial",
        "has_injection_rank",
        "is_active",
    ]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "code"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = [
        "effector",
        "product",
        "injection_rank",
        "quantity_requested",
        "quantity_confirmed",
        "reduction_reason",
        "quantity_delivered",
    ]
    # Requested quantities belong to the pharmacy and the ordering service; confirmed and delivered ones to the
    # fulfilment services (locks, audit, PDF refresh) behind "Lignes à confirmer ou livrer". Nothing is edited here.
    readonly_fields = fields
    can_delete = False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("product", "effector__type", "effector__professional", "effector__establishment", "order")
        )

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(SupportReadLogAdminMixin, admin.ModelAdmin):
    support_read_pharmacy = "pharmacy"
    list_display = [
        "reference",
        "pharmacy",
        "session",
        "status",
        "version",
        "validated_at",
        "updated_by_label",
    ]
    list_select_related = ["pharmacy", "session"]
    list_filter = ["status", "session"]
    search_fields = ["reference", "pharmacy__finess", "pharmacy__name"]
    readonly_fields = [
        "reference",
        "pharmacy",
        "session",
        "status",
        "version",
        "created_at",
        "updated_at",
        "validated_at",
        "cancelled_at",
        "created_by",
        "created_by_label",
        "updated_by_label",
    ]
    inlines = [OrderLineInline]
    date_hierarchy = "created_at"
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(OrderLine)
class OrderLineAdmin(SupportReadLogAdminMixin, admin.ModelAdmin):
    support_read_pharmacy = "order__pharmacy"
    list_display = [
        "order",
        "effector",
        "product",
        "injection_rank",
        "quantity_requested",
        "quantity_confirmed",
        "quantity_delivered",
    ]
    list_select_related = [
        "order",
        "product",
        "effector__type",
        "effector__professional",
        "effector__establishment",
    ]
    list_filter = ["product", "order__session"]
    search_fields = ["order__reference", "order__pharmacy__finess"]
    readonly_fields = [
        "order",
        "effector",
        "product",
        "injection_rank",
        "quantity_requested",
        "quantity_confirmed",
        "reduction_reason",
        "quantity_delivered",
    ]
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
