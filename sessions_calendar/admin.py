"""The calendar in the SpF admin: sessions (generated or edited one by one), the rules page of a session,
the DGS table import, pilot groups and their FINESS import.

Every write goes through `services` (guards, audit). Offers and cap rules are shown read-only here: they
change only through the rules page, which validates the whole grid at once.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from effectors.models import EffectorType
from vaccine_orders.audit.actors import actor_from_request
from vaccine_orders.audit.services import audit_record
from vaccine_orders.orders.models import Product

from .errors import SessionError
from .formatting import local_instant
from .forms import (
    CalendarGenerateForm,
    DgsImportForm,
    OrderSessionAdminForm,
    PilotImportForm,
    SessionRulesForm,
)
from .models import CapRule, OrderSession, PilotGroup, ProductOffer, SessionReminder
from .selectors import CalendarRow, orders_over_cap, session_rules
from .services import (
    calendar_generate,
    calendar_plan,
    dgs_import_apply,
    dgs_import_preview,
    pilot_group_import_finess,
    rules_editable_check,
    rules_from_previous,
    service_restrict_to_pilot,
    session_rules_save,
    session_save,
)
from .services.calendar import session_snapshot

MAX_OVER_CAP_SHOWN = 500


def _bound(request: HttpRequest) -> tuple:
    """Form data for a POST (even an empty one, which must show the "required" errors), else nothing."""
    return (request.POST, request.FILES) if request.method == "POST" else (None, None)


@admin.register(PilotGroup)
class PilotGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "member_count", "created_at", "import_link"]
    search_fields = ["name"]
    # 20 000 officines: a searchable autocomplete, never a select of all of them.
    autocomplete_fields = ["pharmacies"]
    actions = ["restrict_service", "open_service"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(member_count=Count("pharmacies", distinct=True))

    @admin.display(description="officines", ordering="member_count")
    def member_count(self, obj: PilotGroup) -> int:
        return obj.member_count

    @admin.display(description="import")
    def import_link(self, obj: PilotGroup) -> str:
        url = reverse("admin:sessions_calendar_pilotgroup_import", args=[obj.pk])
        return format_html('<a href="{}">Importer une liste FINESS</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:group_id>/import-finess/",
                self.admin_site.admin_view(self.import_view),
                name="sessions_calendar_pilotgroup_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest, group_id: int) -> HttpResponse:
        group = get_object_or_404(PilotGroup, pk=group_id)
        if not self.has_change_permission(request, group):
            raise PermissionDenied
        form = PilotImportForm(*_bound(request))
        report = None
        if request.method == "POST" and form.is_valid():
            report = pilot_group_import_finess(
                group=group,
                raw=form.cleaned_data["text"],
                actor=actor_from_request(request),
                replace=form.cleaned_data["replace"],
            )
            level = messages.WARNING if report.problems else messages.SUCCESS
            self.message_user(
                request,
                f"{len(report.added)} officine(s) ajoutée(s) au groupe « {group.name} », "
                f"{len(report.already)} déjà membre(s), {len(report.removed)} retirée(s), "
                f"{len(report.unknown)} FINESS inconnu(s), {len(report.invalid)} invalide(s).",
                level,
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Importer une liste FINESS dans « {group.name} »",
            "group": group,
            "form": form,
            "report": report,
            "member_count": group.pharmacies.count(),
        }
        return TemplateResponse(request, "admin/sessions_calendar/pilot_import.html", context)

    @admin.action(description="Réserver tout le service à ce groupe pilote (avant le lancement)")
    def restrict_service(self, request: HttpRequest, queryset) -> None:
        groups = list(queryset[:2])
        if len(groups) != 1:
            self.message_user(request, "Choisissez un seul groupe pilote.", messages.ERROR)
            return
        service_restrict_to_pilot(group=groups[0], actor=actor_from_request(request))
        self.message_user(request, f"Le service est désormais réservé au groupe « {groups[0].name} ».")

    @admin.action(description="Ouvrir le service à toutes les officines (fin de la restriction pilote)")
    def open_service(self, request: HttpRequest, queryset) -> None:
        service_restrict_to_pilot(group=None, actor=actor_from_request(request))
        self.message_user(request, "Le service est ouvert à toutes les officines.")


@admin.register(OrderSession)
class OrderSessionAdmin(admin.ModelAdmin):
    form = OrderSessionAdminForm
    list_display = [
        "__str__",
        "state",
        "opens_at",
        "closes_at",
        "confirmation_published_at",
        "delivery",
        "pilot_group",
        "holiday_note",
        "rules_link",
    ]
    list_select_related = ["pilot_group"]
    list_filter = ["is_closed_week", "pilot_group"]
    date_hierarchy = "opens_at"
    search_fields = ["notes", "holiday_note"]
    readonly_fields = ["rules_summary"]
    fieldsets = [
        (
            "Fenêtre de commande (heure de Paris)",
            {"fields": ["opens_at", "closes_at", "is_closed_week", "pilot_group"]},
        ),
        ("Après la fermeture", {"fields": ["confirmation_published_at", "delivery_start", "delivery_end"]}),
        ("Calendrier publié et notes", {"fields": ["holiday_note", "notes", "rules_summary"]}),
    ]
    change_list_template = "admin/sessions_calendar/ordersession/change_list.html"
    change_form_template = "admin/sessions_calendar/ordersession/change_form.html"

    @admin.display(description="état")
    def state(self, obj: OrderSession) -> str:
        if obj.is_closed_week:
            return "Semaine fermée"
        now = timezone.now()
        if obj.closes_at <= now:
            return "Close"
        return "Ouverte" if obj.opens_at <= now else "À venir"

    @admin.display(description="livraison indicative")
    def delivery(self, obj: OrderSession) -> str:
        return CalendarRow(obj).delivery or "—"

    @admin.display(description="règles")
    def rules_link(self, obj: OrderSession) -> str:
        if obj.is_closed_week:
            return "—"
        return format_html(
            '<a href="{}">Règles</a>', reverse("admin:sessions_calendar_ordersession_rules", args=[obj.pk])
        )

    @admin.display(description="règles de la session")
    def rules_summary(self, obj: OrderSession) -> str:
        if obj.pk is None:
            return "Enregistrez la session, puis définissez ses règles."
        names = list(obj.offers.values_list("product__short_name", flat=True))
        url = reverse("admin:sessions_calendar_ordersession_rules", args=[obj.pk])
        return format_html(
            '{} — <a href="{}">Règles de la session</a>',
            ", ".join(names) if names else "Aucun produit ouvert",
            url,
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("generer/", wrap(self.generate_view), name="sessions_calendar_ordersession_generate"),
            path("<int:session_id>/regles/", wrap(self.rules_view), name="sessions_calendar_ordersession_rules"),
            path("<int:session_id>/import-dgs/", wrap(self.dgs_import_view), name="sessions_calendar_ordersession_dgs"),
            *super().get_urls(),
        ]

    # --- one session at a time -----------------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: OrderSession, form, change: bool) -> None:
        session_save(session=obj, actor=actor_from_request(request))

    def delete_model(self, request: HttpRequest, obj: OrderSession) -> None:
        with transaction.atomic():
            audit_record(
                actor=actor_from_request(request),
                action="session.delete",
                target=obj,
                summary="Session supprimée.",
                before=session_snapshot(obj),
            )
            obj.delete()

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SessionError as error:
            # A concurrent save won the race the form's check could not see: say it, keep the page.
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    # --- generation ------------------------------------------------------------------------------------

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CalendarGenerateForm(*_bound(request)[:1])
        plan = None
        if request.method == "POST" and form.is_valid():
            try:
                if request.POST.get("action") == "create":
                    sessions = calendar_generate(spec=form.spec(), actor=actor_from_request(request))
                    closed = sum(1 for s in sessions if s.is_closed_week)
                    self.message_user(
                        request,
                        f"{len(sessions)} sessions créées, dont {closed} semaine(s) fermée(s). Définissez maintenant "
                        "les règles de chaque session ouverte (lien « Règles »).",
                    )
                    return redirect("admin:sessions_calendar_ordersession_changelist")
                plan = calendar_plan(spec=form.spec())
            except SessionError as error:
                form.add_service_errors(error)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Générer un calendrier de sessions",
            "form": form,
            "plan": plan,
            "has_conflicts": bool(plan and any(item.conflicts for item in plan)),
        }
        return TemplateResponse(request, "admin/sessions_calendar/generate.html", context)

    # --- rules -------------------------------------------------------------------------------------------

    def _session_for(self, request: HttpRequest, session_id: int) -> OrderSession:
        session = get_object_or_404(OrderSession.objects.select_related("pilot_group"), pk=session_id)
        if not self.has_change_permission(request, session):
            raise PermissionDenied
        return session

    @staticmethod
    def _grid_parts(session: OrderSession) -> tuple[list[Product], list[EffectorType]]:
        offered = set(session.offers.values_list("product_id", flat=True))
        products = [p for p in Product.objects.order_by("sort_order", "name") if p.is_active or p.pk in offered]
        return products, list(EffectorType.objects.order_by("sort_order", "label"))

    def rules_view(self, request: HttpRequest, session_id: int) -> HttpResponse:
        session = self._session_for(request, session_id)
        products, types = self._grid_parts(session)
        locked_reason = ""
        try:
            rules_editable_check(session=session)
        except SessionError as error:
            locked_reason = error.message

        initial_rules = session_rules(session=session)
        copied_from = None
        if request.method == "GET" and request.GET.get("copier") and not locked_reason:
            try:
                copied_from, initial_rules = rules_from_previous(session=session)
                self.message_user(
                    request,
                    f"Règles copiées depuis la {str(copied_from).lower()} : vérifiez-les, puis cliquez sur "
                    "« Enregistrer les règles ». Rien n'est enregistré pour le moment.",
                    messages.INFO,
                )
            except SessionError as error:
                self.message_user(request, error.message, messages.WARNING)

        form = SessionRulesForm(
            request.POST if request.method == "POST" else None, products=products, types=types, rules=initial_rules
        )
        if locked_reason:
            for field in form.fields.values():
                field.disabled = True
        if request.method == "POST" and not locked_reason and form.is_valid():
            rules = form.rules()
            if not form.errors:
                try:
                    result = session_rules_save(session=session, rules=rules, actor=actor_from_request(request))
                except SessionError as error:
                    form.add_service_errors(error)
                else:
                    if not result.changes:
                        self.message_user(request, "Aucune modification : les règles sont inchangées.", messages.INFO)
                    else:
                        self.message_user(request, f"Règles enregistrées : {len(result.changes)} modification(s).")
                    if result.newly_over_cap:
                        self.message_user(
                            request,
                            f"{len(result.newly_over_cap)} élément(s) de commandes existantes dépassent désormais les "
                            "règles : voir la liste « Commandes au-delà des règles en vigueur ». Les commandes ne "
                            "sont pas modifiées ; la confirmation en tiendra compte.",
                            messages.WARNING,
                        )
                    return redirect("admin:sessions_calendar_ordersession_rules", session_id=session.pk)
        elif request.method == "POST" and locked_reason:
            self.message_user(request, locked_reason, messages.ERROR)

        over_cap = orders_over_cap(session=session) if session.orders.exists() else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": session,
            "title": f"Règles de la {str(session).lower()}",
            "session": session,
            "form": form,
            "locked_reason": locked_reason,
            "copied_from": copied_from,
            "over_cap": over_cap[:MAX_OVER_CAP_SHOWN],
            "over_cap_count": len(over_cap),
            "opens": local_instant(session.opens_at),
            "closes": local_instant(session.closes_at),
            "is_open_now": session.is_open_at(timezone.now()),
        }
        return TemplateResponse(
            request,
            "admin/sessions_calendar/rules.html",
            context,
            status=400 if request.method == "POST" and form.errors else 200,
        )

    def dgs_import_view(self, request: HttpRequest, session_id: int) -> HttpResponse:
        session = self._session_for(request, session_id)
        form = DgsImportForm(*_bound(request))
        preview = None
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            content = form.cleaned_data["bytes"]
            close_missing = form.cleaned_data["close_missing"]
            try:
                if request.POST.get("action") == "apply":
                    result = dgs_import_apply(
                        session=session,
                        content=content,
                        close_missing=close_missing,
                        fingerprint=form.cleaned_data["fingerprint"],
                        actor=actor_from_request(request),
                    )
                    self.message_user(request, f"Tableau importé : {len(result.changes)} modification(s) des règles.")
                    if result.newly_over_cap:
                        self.message_user(
                            request,
                            f"{len(result.newly_over_cap)} élément(s) de commandes existantes dépassent désormais les "
                            "règles (voir la page des règles). Les commandes ne sont pas modifiées.",
                            messages.WARNING,
                        )
                    return redirect("admin:sessions_calendar_ordersession_rules", session_id=session.pk)
                preview = dgs_import_preview(session=session, content=content, close_missing=close_missing)
                form = DgsImportForm(
                    initial={
                        "content": DgsImportForm.encode(content),
                        "fingerprint": preview.fingerprint,
                        "close_missing": close_missing,
                    }
                )
            except SessionError as error:
                errors = [error.message, *error.errors] if error.errors else [error.message]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": session,
            "title": f"Importer un tableau DGS dans la {str(session).lower()}",
            "session": session,
            "form": form,
            "preview": preview,
            "errors": errors,
        }
        return TemplateResponse(
            request, "admin/sessions_calendar/dgs_import.html", context, status=400 if errors else 200
        )


@admin.register(ProductOffer)
class ProductOfferAdmin(admin.ModelAdmin):
    """Read-only: offers change through the rules page of their session."""

    list_display = ["product", "session", "box_size", "national_stock", "stock_taken", "rules_link"]
    list_select_related = ["product", "session"]
    list_filter = ["product"]
    raw_id_fields = ["session"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="règles")
    def rules_link(self, obj: ProductOffer) -> str:
        url = reverse("admin:sessions_calendar_ordersession_rules", args=[obj.session_id])
        return format_html('<a href="{}">Modifier sur la page des règles</a>', url)


@admin.register(CapRule)
class CapRuleAdmin(admin.ModelAdmin):
    """Read-only: caps change through the rules page of their session."""

    list_display = ["offer", "effector_type", "injection_rank", "mode", "limit"]
    list_select_related = ["offer__product", "offer__session", "effector_type"]
    list_filter = ["mode", "effector_type", "offer__product"]
    raw_id_fields = ["offer"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(SessionReminder)
class SessionReminderAdmin(admin.ModelAdmin):
    list_display = ["session", "pharmacy", "status", "email", "claimed_at", "sent_at", "attempts", "last_error"]
    list_select_related = ["session", "pharmacy"]
    list_filter = ["status"]
    search_fields = ["pharmacy__finess", "pharmacy__name", "email"]
    raw_id_fields = ["session", "pharmacy"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
