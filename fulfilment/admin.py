"""The logistics staff's tools: per session, confirm as ordered, reduce a line with a reason, share a short
stock (previewed before it applies), set delivery dates per region, export for logistics, follow the
mailing and resend what failed; per line, record deliveries.

Quantities are read-only everywhere: every change goes through a service (locks, audit, PDF refresh).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.models import Region
from sessions_calendar.models import OrderSession
from vaccine_orders.audit.actors import actor_from_request
from vaccine_orders.orders.models import Order, Product

from .errors import FulfilmentError
from .forms import AllocationForm, DeliveryDatesForm, LineConfirmForm, LineDeliverForm
from .models import (
    ConfirmationLine,
    LogisticsExport,
    OutboxMessage,
    RegionalDeliveryDate,
    SessionConfirmation,
    SessionFulfilment,
)
from .selectors import confirmations_visible, delivery_date_for, publication_instant
from .services import (
    EXPORT_COLUMNS,
    allocation_apply,
    allocation_plan,
    default_rounding,
    delivery_dates_set,
    line_confirm,
    line_mark_delivered,
    lines_confirm_as_ordered,
    lines_mark_delivered,
    logistics_export_request,
    logistics_export_send,
    mailing_dispatch,
    mailing_prepare,
    mailing_progress,
    outbox_resend,
    products_over_stock,
)
from .services.exports import export_filename


def _links(*pairs: tuple[str, str]):
    return format_html_join(" · ", '<a href="{}">{}</a>', ((url, label) for label, url in pairs))


# --- Sessions --------------------------------------------------------------------------------------------


@admin.register(SessionConfirmation)
class SessionConfirmationAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "closes_at",
        "publication",
        "lines_total",
        "lines_pending",
        "delivery",
        "tools",
    ]
    list_filter = ["is_closed_week"]
    date_hierarchy = "opens_at"
    actions = ["confirm_as_ordered", "request_export", "send_mailing_now"]
    show_facets = admin.ShowFacets.NEVER
    fields = ["opens_at", "closes_at", "publication", "delivery", "progress", "exports", "tools"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        registered = Q(orders__status=Order.Status.REGISTERED)
        return (
            super()
            .get_queryset(request)
            .select_related("fulfilment")
            .annotate(
                n_lines=Count("orders__lines", filter=registered),
                n_pending=Count("orders__lines", filter=registered & Q(orders__lines__quantity_confirmed__isnull=True)),
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="publication des confirmations")
    def publication(self, obj) -> str:
        instant = timezone.localtime(publication_instant(session=obj))
        state = "publiée" if confirmations_visible(session=obj, at=timezone.now()) else "à venir"
        return f"{instant:%d/%m/%Y %H:%M} ({state})"

    @admin.display(description="lignes", ordering="n_lines")
    def lines_total(self, obj) -> int:
        return obj.n_lines

    @admin.display(description="non traitées", ordering="n_pending")
    def lines_pending(self, obj) -> int:
        return obj.n_pending

    @admin.display(description="livraison prévue")
    def delivery(self, obj) -> str:
        fulfilment = getattr(obj, "fulfilment", None)
        day = fulfilment.delivery_date if fulfilment and fulfilment.delivery_date else obj.delivery_end
        return f"{day:%d/%m/%Y}" if day else "—"

    @admin.display(description="outils")
    def tools(self, obj):
        return _links(
            (
                "Lignes",
                reverse("admin:fulfilment_confirmationline_changelist") + f"?order__session__id__exact={obj.pk}",
            ),
            ("Répartition", reverse("admin:fulfilment_sessionconfirmation_allocation", args=[obj.pk])),
            ("Dates de livraison", reverse("admin:fulfilment_sessionconfirmation_delivery", args=[obj.pk])),
            ("Exports", reverse("admin:fulfilment_logisticsexport_changelist") + f"?session__id__exact={obj.pk}"),
            ("Publipostage", reverse("admin:fulfilment_outboxmessage_changelist") + f"?session__id__exact={obj.pk}"),
        )

    @admin.display(description="publipostage")
    def progress(self, obj) -> str:
        counts = mailing_progress(session=obj)
        labels = dict(OutboxMessage.Status.choices)
        return " · ".join(f"{labels[status]} : {n}" for status, n in counts.items())

    @admin.display(description="exports logistiques")
    def exports(self, obj):
        exports = LogisticsExport.objects.filter(session=obj).order_by("-sequence")[:10]
        if not exports:
            return "Aucun"
        return format_html_join(
            ", ", "n° {} ({}, {} lignes)", ((e.sequence, e.get_state_display(), e.row_count) for e in exports)
        )

    # Actions -----------------------------------------------------------------------------------------

    @admin.action(description="Confirmer comme commandé les lignes non traitées", permissions=["change"])
    def confirm_as_ordered(self, request: HttpRequest, queryset) -> None:
        actor = actor_from_request(request)
        for session in queryset:
            try:
                count = lines_confirm_as_ordered(session=session, actor=actor)
            except FulfilmentError as exc:
                self.message_user(request, f"{session} : {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{session} : {count} ligne(s) confirmée(s) comme commandées.")

    @admin.action(description="Générer l'export logistique", permissions=["change"])
    def request_export(self, request: HttpRequest, queryset) -> None:
        actor = actor_from_request(request)
        for session in queryset:
            export = logistics_export_request(session=session, actor=actor)
            self.message_user(request, f"{session} : export n° {export.sequence} demandé.")

    @admin.action(description="Préparer et envoyer le publipostage maintenant", permissions=["change"])
    def send_mailing_now(self, request: HttpRequest, queryset) -> None:
        actor = actor_from_request(request)
        now = timezone.now()
        for session in queryset:
            if not confirmations_visible(session=session, at=now):
                self.message_user(
                    request,
                    f"{session} : les confirmations ne sont pas encore publiées, rien n'est envoyé.",
                    messages.WARNING,
                )
                continue
            created = mailing_prepare(session=session, actor=actor, at=now)
            self.message_user(request, f"{session} : {created} message(s) préparé(s).")
        batches = mailing_dispatch(at=now)
        self.message_user(request, f"{batches} lot(s) d'envoi mis en file.")

    # Tools -------------------------------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/repartition/", wrap(self.allocation_view), name="fulfilment_sessionconfirmation_allocation"),
            path("<int:pk>/livraison/", wrap(self.delivery_view), name="fulfilment_sessionconfirmation_delivery"),
            *super().get_urls(),
        ]

    def _session_for_change(self, request: HttpRequest, pk: int) -> SessionConfirmation:
        session = get_object_or_404(SessionConfirmation, pk=pk)
        if not self.has_change_permission(request, session):
            raise PermissionDenied
        return session

    def _context(self, request: HttpRequest, session, title: str, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": session,
            "session": session,
            "title": title,
            **extra,
        }

    def allocation_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Pick a product and a rule, preview line by line, then apply exactly what was previewed."""
        session = self._session_for_change(request, pk)
        products = Product.objects.filter(order_lines__order__session=session).distinct().order_by("sort_order", "name")
        plan = None
        initial = {"method": "pro_rata"}
        if "product" in request.GET:
            product = products.filter(pk=request.GET["product"]).first()
            if product is not None:
                overview = {row["product_id"]: row for row in products_over_stock(session=session)}
                initial.update(
                    product=product.pk,
                    available=overview.get(product.pk, {}).get("stock") or "",
                    rounding=default_rounding(session=session, product=product),
                )
        form = AllocationForm(request.POST or None, products=products, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            params = {
                "session": session,
                "product": data["product"],
                "method": data["method"],
                "available": data["available"],
                "rounding": data["rounding"],
            }
            try:
                if "apply" in request.POST:
                    applied = allocation_apply(
                        **params, fingerprint=data["fingerprint"], actor=actor_from_request(request)
                    )
                    self.message_user(
                        request,
                        f"Répartition appliquée : {applied.allocated} sur {applied.demand} demandés, "
                        f"{applied.reduced_count} ligne(s) réduite(s).",
                    )
                    return HttpResponseRedirect(request.path)
                plan = allocation_plan(**params)
                form = AllocationForm({**request.POST.dict(), "fingerprint": plan.fingerprint}, products=products)
                form.is_valid()
            except FulfilmentError as exc:
                form.add_error(None, exc.message)
        return TemplateResponse(
            request,
            "admin/fulfilment/allocation.html",
            self._context(
                request,
                session,
                f"Répartition d'un stock insuffisant – {session}",
                form=form,
                plan=plan,
                overview=products_over_stock(session=session),
            ),
        )

    def delivery_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        session = self._session_for_change(request, pk)
        regions = list(Region.objects.order_by("name"))
        fulfilment = SessionFulfilment.objects.filter(session=session).first()
        initial = {"default_date": fulfilment.delivery_date if fulfilment else None}
        if fulfilment:
            for regional in RegionalDeliveryDate.objects.filter(fulfilment=fulfilment):
                initial[f"region_{regional.region_id}"] = regional.delivery_date
        form = DeliveryDatesForm(request.POST or None, regions=regions, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                delivery_dates_set(
                    session=session,
                    default_date=form.cleaned_data["default_date"],
                    regional=form.regional_dates(),
                    actor=actor_from_request(request),
                )
            except FulfilmentError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, "Dates de livraison enregistrées.")
                return HttpResponseRedirect(request.path)
        return TemplateResponse(
            request,
            "admin/fulfilment/delivery_dates.html",
            self._context(
                request,
                session,
                f"Dates de livraison – {session}",
                form=form,
                calendar_window=(session.delivery_start, session.delivery_end),
                default_region_date=delivery_date_for(session=session, region_id=None),
            ),
        )


# --- Lines --------------------------------------------------------------------------------------------


class ConfirmationStateFilter(admin.SimpleListFilter):
    title = "confirmation"
    parameter_name = "confirmation"

    def lookups(self, request, model_admin):
        return [
            ("pending", "Non traitée"),
            ("confirmed", "Confirmée comme commandée"),
            ("reduced", "Réduite"),
            ("delivered", "Livrée"),
            ("partial", "Partiellement livrée"),
        ]

    def queryset(self, request, queryset):
        from django.db.models import F

        value = self.value()
        if value == "pending":
            return queryset.filter(quantity_confirmed__isnull=True)
        if value == "confirmed":
            return queryset.filter(quantity_confirmed=F("quantity_requested"))
        if value == "reduced":
            return queryset.filter(quantity_confirmed__lt=F("quantity_requested"))
        if value == "delivered":
            return queryset.filter(quantity_delivered__isnull=False, quantity_delivered__gte=F("quantity_confirmed"))
        if value == "partial":
            return queryset.filter(quantity_delivered__lt=F("quantity_confirmed"))
        return queryset


@admin.register(ConfirmationLine)
class ConfirmationLineAdmin(admin.ModelAdmin):
    list_display = [
        "order_reference",
        "pharmacy",
        "effector_label",
        "product",
        "injection_rank",
        "quantity_requested",
        "quantity_confirmed",
        "reduction_reason",
        "quantity_delivered",
        "tools",
    ]
    list_select_related = [
        "order__pharmacy",
        "order__session",
        "effector__type",
        "effector__professional",
        "effector__establishment",
        "product",
    ]
    list_filter = [ConfirmationStateFilter, "product", "effector__type", "order__session"]
    search_fields = [
        "order__reference",
        "order__pharmacy__finess",
        "order__pharmacy__name",
        "effector__professional__rpps",
        "effector__professional__last_name",
        "effector__establishment__finess",
    ]
    actions = ["confirm_as_ordered", "mark_delivered"]
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    fields = [
        "order",
        "effector",
        "product",
        "injection_rank",
        "quantity_requested",
        "quantity_confirmed",
        "reduction_reason",
        "quantity_delivered",
        "tools",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).filter(order__status=Order.Status.REGISTERED)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="commande", ordering="order__reference")
    def order_reference(self, obj) -> str:
        return obj.order.reference

    @admin.display(description="officine", ordering="order__pharmacy__finess")
    def pharmacy(self, obj) -> str:
        return f"{obj.order.pharmacy.finess} – {obj.order.pharmacy.name}"

    @admin.display(description="effecteur")
    def effector_label(self, obj) -> str:
        return f"{obj.effector.display_name} ({obj.effector.type.label})"

    @admin.display(description="outils")
    def tools(self, obj):
        return _links(
            ("Confirmer / réduire", reverse("admin:fulfilment_confirmationline_confirm", args=[obj.pk])),
            ("Livraison", reverse("admin:fulfilment_confirmationline_deliver", args=[obj.pk])),
        )

    @admin.action(description="Confirmer comme commandé", permissions=["change"])
    def confirm_as_ordered(self, request: HttpRequest, queryset) -> None:
        actor = actor_from_request(request)
        by_session: dict[int, list[int]] = {}
        for line_id, session_id in queryset.values_list("pk", "order__session_id"):
            by_session.setdefault(session_id, []).append(line_id)
        total = 0
        for session in OrderSession.objects.filter(pk__in=by_session):
            try:
                total += lines_confirm_as_ordered(session=session, actor=actor, line_ids=by_session[session.pk])
            except FulfilmentError as exc:
                self.message_user(request, f"{session} : {exc.message}", messages.ERROR)
        self.message_user(
            request, f"{total} ligne(s) confirmée(s) comme commandées (les lignes déjà traitées sont inchangées)."
        )

    @admin.action(description="Marquer comme livrées en totalité", permissions=["change"])
    def mark_delivered(self, request: HttpRequest, queryset) -> None:
        count = lines_mark_delivered(
            line_ids=list(queryset.values_list("pk", flat=True)), actor=actor_from_request(request)
        )
        self.message_user(
            request, f"{count} ligne(s) marquée(s) comme livrées (les lignes non confirmées sont ignorées)."
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/confirmer/", wrap(self.confirm_view), name="fulfilment_confirmationline_confirm"),
            path("<int:pk>/livrer/", wrap(self.deliver_view), name="fulfilment_confirmationline_deliver"),
            *super().get_urls(),
        ]

    def _line_form_view(self, request: HttpRequest, pk: int, *, form_class, initial, title, save) -> HttpResponse:
        line = get_object_or_404(self.get_queryset(request).select_related(*self.list_select_related), pk=pk)
        if not self.has_change_permission(request, line):
            raise PermissionDenied
        form = form_class(request.POST or None, initial=initial(line))
        if request.method == "POST" and form.is_valid():
            try:
                save(line, form.cleaned_data, actor_from_request(request))
            except FulfilmentError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, "Ligne enregistrée.")
                return HttpResponseRedirect(
                    reverse("admin:fulfilment_confirmationline_changelist")
                    + f"?order__session__id__exact={line.order.session_id}"
                )
        return TemplateResponse(
            request,
            "admin/fulfilment/line_form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": line,
                "line": line,
                "form": form,
                "title": title,
            },
        )

    def confirm_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._line_form_view(
            request,
            pk,
            form_class=LineConfirmForm,
            initial=lambda line: {
                "quantity": line.quantity_confirmed if line.quantity_confirmed is not None else line.quantity_requested,
                "reason": line.reduction_reason,
            },
            title="Confirmer ou réduire une ligne",
            save=lambda line, data, actor: line_confirm(
                line_id=line.pk, quantity=data["quantity"], reason=data["reason"], actor=actor
            ),
        )

    def deliver_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._line_form_view(
            request,
            pk,
            form_class=LineDeliverForm,
            initial=lambda line: {
                "quantity": line.quantity_delivered if line.quantity_delivered is not None else line.quantity_confirmed
            },
            title="Enregistrer une livraison",
            save=lambda line, data, actor: line_mark_delivered(line_id=line.pk, quantity=data["quantity"], actor=actor),
        )


# --- Exports -----------------------------------------------------------------------------------------------


@admin.register(LogisticsExport)
class LogisticsExportAdmin(admin.ModelAdmin):
    list_display = ["__str__", "state", "row_count", "created_at", "created_by_label", "sent_at", "sent_to", "download"]
    list_select_related = ["session"]
    list_filter = ["state", "session"]
    actions = ["send", "re_export"]
    show_facets = admin.ShowFacets.NEVER
    fields = [
        "session",
        "sequence",
        "state",
        "row_count",
        "sha256",
        "created_at",
        "created_by_label",
        "generated_at",
        "sent_at",
        "sent_to",
        "error",
        "download",
        "columns",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="fichier")
    def download(self, obj):
        if not obj.file:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:fulfilment_logisticsexport_download", args=[obj.pk]),
            export_filename(obj),
        )

    @admin.display(description="colonnes du fichier")
    def columns(self, obj):
        return format_html("<ol>{}</ol>", format_html_join("", "<li><code>{}</code> : {}</li>", EXPORT_COLUMNS))

    @admin.action(description="Envoyer à la logistique", permissions=["change"])
    def send(self, request: HttpRequest, queryset) -> None:
        actor = actor_from_request(request)
        for export in queryset:
            try:
                result = logistics_export_send(export_id=export.pk, actor=actor)
            except FulfilmentError as exc:
                self.message_user(request, f"{export} : {exc.message}", messages.ERROR)
                continue
            level = messages.SUCCESS if result.state == LogisticsExport.State.SENT else messages.ERROR
            self.message_user(request, f"{export} : {result.get_state_display()}. {result.error}".strip(), level)

    @admin.action(description="Ré-exporter (nouveau fichier)", permissions=["change"])
    def re_export(self, request: HttpRequest, queryset) -> None:
        actor = actor_from_request(request)
        for session_id in sorted(set(queryset.values_list("session_id", flat=True))):
            export = logistics_export_request(session=OrderSession.objects.get(pk=session_id), actor=actor)
            self.message_user(request, f"Export n° {export.sequence} demandé pour {export.session}.")

    def get_urls(self):
        return [
            path(
                "<int:pk>/telecharger/",
                self.admin_site.admin_view(self.download_view),
                name="fulfilment_logisticsexport_download",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        export = get_object_or_404(LogisticsExport, pk=pk)
        if not self.has_view_permission(request, export):
            raise PermissionDenied
        if not export.file:
            raise Http404("Export pas encore généré.")
        return FileResponse(
            default_storage.open(export.file.name, "rb"),
            as_attachment=True,
            filename=export_filename(export),
            content_type="text/csv; charset=utf-8",
        )


# --- Mailing ---------------------------------------------------------------------------------------------


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "kind",
        "session",
        "pharmacy",
        "status",
        "attempts",
        "reclaims",
        "next_attempt_at",
        "sent_at",
        "error_short",
        "tools",
    ]
    list_select_related = ["session", "pharmacy"]
    list_filter = ["status", "kind", "session"]
    search_fields = ["email", "pharmacy__finess", "pharmacy__name", "professional__rpps", "key"]
    raw_id_fields = ["pharmacy", "professional", "session"]
    actions = ["resend"]
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    readonly_fields = [
        "key",
        "session",
        "kind",
        "pharmacy",
        "professional",
        "email",
        "status",
        "attempts",
        "reclaims",
        "next_attempt_at",
        "queued_at",
        "claimed_at",
        "sent_at",
        "message_id",
        "last_error",
        "created_at",
        "tools",
    ]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="erreur")
    def error_short(self, obj) -> str:
        return obj.last_error[:80]

    @admin.display(description="")
    def tools(self, obj):
        if obj.status != OutboxMessage.Status.FAILED:
            return ""
        return format_html(
            '<a class="button" href="{}">Renvoyer</a>', reverse("admin:fulfilment_outboxmessage_resend", args=[obj.pk])
        )

    @admin.action(description="Renvoyer les messages en échec sélectionnés", permissions=["change"])
    def resend(self, request: HttpRequest, queryset) -> None:
        count = outbox_resend(
            message_ids=list(queryset.values_list("pk", flat=True)), actor=actor_from_request(request)
        )
        self.message_user(request, f"{count} message(s) remis en file d'envoi (seuls les messages en échec le sont).")

    def get_urls(self):
        return [
            path(
                "<int:pk>/renvoyer/",
                self.admin_site.admin_view(self.resend_view),
                name="fulfilment_outboxmessage_resend",
            ),
            *super().get_urls(),
        ]

    def resend_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The resend button: a confirmation page, then a POST (a link must not change anything)."""
        message = get_object_or_404(OutboxMessage.objects.select_related("session", "pharmacy"), pk=pk)
        if not self.has_change_permission(request, message):
            raise PermissionDenied
        if request.method == "POST":
            count = outbox_resend(message_ids=[message.pk], actor=actor_from_request(request))
            if count:
                self.message_user(request, f"Message à {message.email or message.pharmacy} remis en file d'envoi.")
            else:
                self.message_user(request, "Ce message n'est pas en échec : rien à renvoyer.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:fulfilment_outboxmessage_changelist"))
        return TemplateResponse(
            request,
            "admin/fulfilment/outbox_resend.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": message,
                "message": message,
                "title": "Renvoyer un message du publipostage",
            },
        )
