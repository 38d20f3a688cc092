from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from vaccine_orders.audit.actors import actor_from_request
from vaccine_orders.portal.support_reads import SupportReadLogAdminMixin

from .forms import AgentCreationForm
from .models import Department, PharmacistAuthority, Pharmacy, Region, User
from .roles import ROLE_ARS, STAFF_ROLES
from .services import agent_setup


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "region"]
    list_select_related = ["region"]
    list_filter = ["region"]
    search_fields = ["code", "name"]


class AuthorityInline(admin.TabularInline):
    model = PharmacistAuthority
    extra = 0
    fields = ["rpps", "last_name", "first_name", "role", "source", "is_active"]


@admin.register(Pharmacy)
class PharmacyAdmin(SupportReadLogAdminMixin, admin.ModelAdmin):
    def support_read_pharmacy_of(self, obj: Pharmacy) -> Pharmacy:
        return obj

    list_display = ["finess", "name", "city", "department", "email", "is_active"]
    list_select_related = ["department"]
    list_filter = ["is_active", "department__region"]
    search_fields = ["finess", "name", "city", "email"]
    autocomplete_fields = ["department"]
    inlines = [AuthorityInline]
    show_facets = admin.ShowFacets.NEVER
    # The address is the officine's login when PSC is down: only the officine changes it, proving it with a
    # code ("Visualiser compte"), so that it stays in sync with the login's records.
    readonly_fields = ["email", "email_verified_at"]


@admin.register(PharmacistAuthority)
class PharmacistAuthorityAdmin(admin.ModelAdmin):
    list_display = ["rpps", "last_name", "first_name", "role", "pharmacy", "source", "is_active"]
    list_select_related = ["pharmacy"]
    list_filter = ["role", "source", "is_active"]
    search_fields = ["rpps", "last_name", "pharmacy__finess", "pharmacy__name"]
    autocomplete_fields = ["pharmacy"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "pharmacy", "region", "is_staff", "is_active", "last_login"]
    list_select_related = ["pharmacy", "region"]
    list_filter = ["is_staff", "is_active", "groups", "region"]
    search_fields = ["username", "email", "first_name", "last_name", "pharmacy__finess"]
    autocomplete_fields = ["pharmacy"]
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Rattachement", {"fields": ("pharmacy", "region")}),
    )
    # "Ajouter" creates an agent (SpF or ARS): officine accounts are created by their first PSC login.
    add_form = AgentCreationForm
    add_fieldsets = (
        (
            "Nouvel agent",
            {
                "classes": ("wide",),
                "description": "L'agent vérifiera son adresse e-mail et activera la double authentification "
                "(application TOTP) à sa première connexion, sur la page « Connexion agents ».",
                "fields": ("email", "first_name", "last_name", "role", "region", "password1", "password2"),
            },
        ),
    )

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        role = form.cleaned_data["role"]
        obj.username = obj.email
        obj.is_staff = role in STAFF_ROLES
        obj.region = form.cleaned_data.get("region") if role == ROLE_ARS else None
        super().save_model(request, obj, form, change)
        agent_setup(user=obj, role=role, actor=actor_from_request(request))
