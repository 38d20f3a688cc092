from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest
from django.template.defaultfilters import linebreaksbr
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from vaccine_orders.audit.actors import actor_from_request

from . import services
from .forms import HelpDocumentAdminForm, SupportRequestAdminForm
from .jobs import beat_job_names, scheduled_jobs_sync
from .models import HelpDocument, NewsItem, ScheduledJobRun, ServiceSettings, SupportMessage, SupportRequest


@admin.register(ServiceSettings)
class ServiceSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "psc_unavailable", "read_only", "pilot_group", "updated_at"]
    list_select_related = ["pilot_group"]
    readonly_fields = ["updated_at", "updated_by"]

    def has_add_permission(self, request) -> bool:
        return not ServiceSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        obj.updated_by = request.user
        services.service_settings_save(
            settings_row=obj, actor=actor_from_request(request), changed=list(form.changed_data)
        )


@admin.register(NewsItem)
class NewsItemAdmin(admin.ModelAdmin):
    list_display = ["title", "starts_at", "ends_at", "is_urgent", "is_visible_now"]
    list_filter = ["is_urgent"]
    search_fields = ["title", "body"]
    date_hierarchy = "starts_at"

    @admin.display(description="en ligne", boolean=True)
    def is_visible_now(self, obj: NewsItem) -> bool:
        now = timezone.now()
        return obj.starts_at <= now and (obj.ends_at is None or obj.ends_at > now)


@admin.register(ScheduledJobRun)
class ScheduledJobRunAdmin(admin.ModelAdmin):
    list_display = ["name", "last_status", "last_started_at", "last_finished_at", "last_summary", "schedule"]
    readonly_fields = [
        "name",
        "last_status",
        "last_started_at",
        "last_finished_at",
        "last_summary",
        "last_error",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        # Every job of the beat schedule is listed, with "never ran" (an empty state) until its first run.
        scheduled_jobs_sync()
        return super().changelist_view(request, extra_context)

    @admin.display(description="planification")
    def schedule(self, obj: ScheduledJobRun) -> str:
        return beat_job_names().get(obj.name, "hors planification")


# --- the support desk ----------------------------------------------------------------------------


def _local(moment) -> str:
    return date_format(timezone.localtime(moment), "D j M Y H:i") if moment else "—"


class QueueFilter(admin.SimpleListFilter):
    title = "file"
    parameter_name = "file"

    def lookups(self, request, model_admin):
        return [
            ("a_traiter", "À traiter (nouvelles, en cours, niveau 2)"),
            ("en_retard", "En retard (délai de deux heures dépassé)"),
            ("niveau_2", "Transmises au niveau 2"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "a_traiter":
            return queryset.filter(status__in=SupportRequest.OPEN_STATUSES)
        if self.value() == "en_retard":
            return queryset.filter(
                status__in=SupportRequest.OPEN_STATUSES,
                first_answered_at__isnull=True,
                due_at__lt=timezone.now(),
            )
        if self.value() == "niveau_2":
            return queryset.filter(status=SupportRequest.Status.ESCALATED)
        return queryset


class AssignmentFilter(admin.SimpleListFilter):
    title = "attribution"
    parameter_name = "attribution"

    def lookups(self, request, model_admin):
        return [("moi", "Attribuées à moi"), ("personne", "Non attribuées")]

    def queryset(self, request, queryset):
        if self.value() == "moi":
            return queryset.filter(assigned_to=request.user)
        if self.value() == "personne":
            return queryset.filter(assigned_to__isnull=True)
        return queryset


@admin.register(SupportRequest)
class SupportRequestAdmin(admin.ModelAdmin):
    form = SupportRequestAdminForm
    list_display = [
        "reference",
        "created",
        "due",
        "status",
        "reason_short",
        "requester",
        "callback_requested",
        "assigned_to",
    ]
    list_display_links = ["reference"]
    list_select_related = ["pharmacy", "assigned_to"]
    list_filter = [QueueFilter, AssignmentFilter, "status", "reason", "callback_requested"]
    search_fields = ["reference", "email", "name", "finess", "pharmacy__name", "pharmacy__finess"]
    list_per_page = 50
    show_facets = admin.ShowFacets.NEVER
    actions = ["take", "escalate", "close"]
    readonly_fields = [
        "reference",
        "created_at",
        "due",
        "reason",
        "message",
        "error_message",
        "name",
        "email",
        "callback_requested",
        "phone",
        "finess",
        "pharmacy_file_link",
        "session",
        "order_reference",
        "acknowledged_at",
        "first_answered_at",
        "closed_at",
        "thread",
    ]
    fieldsets = [
        ("Demande", {"fields": ["reference", "created_at", "due", "reason", "message", "error_message"]}),
        (
            "Demandeur",
            {"fields": ["name", "email", "callback_requested", "phone", "finess", "pharmacy_file_link"]},
        ),
        ("Contexte joint automatiquement", {"fields": ["session", "order_reference"]}),
        ("Traitement", {"fields": ["status", "assigned_to", "acknowledged_at", "first_answered_at", "closed_at"]}),
        ("Échanges", {"fields": ["thread"]}),
        ("Répondre", {"fields": ["reply", "internal_note"]}),
    ]

    class Media:
        css = {"all": ["portal/admin_support.css"]}
        js = ["portal/admin_support.js"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SupportRequest]:
        # Open requests first, the most urgent at the top; then the others. The rank is annotated before
        # ordering, which ModelAdmin.get_queryset would do too early.
        queryset = (
            self.model._default_manager.get_queryset()
            # All of them here: the changelist skips list_select_related once a queryset selects any.
            .select_related("pharmacy", "assigned_to", "session", "order")
            .annotate(
                queue_rank=Case(
                    When(status__in=SupportRequest.OPEN_STATUSES, then=Value(0)),
                    default=Value(1),
                    output_field=IntegerField(),
                )
            )
        )
        return queryset.order_by(*self.get_ordering(request))

    def get_ordering(self, request: HttpRequest) -> list[str]:
        return ["queue_rank", "due_at", "id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requests come from the form, with their context

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # closed, never deleted: the history of what was asked and answered stays

    # --- columns ---------------------------------------------------------------------------

    @admin.display(description="envoyée le", ordering="created_at")
    def created(self, obj: SupportRequest) -> str:
        return _local(obj.created_at)

    @admin.display(description="réponse attendue avant", ordering="due_at")
    def due(self, obj: SupportRequest) -> str:
        if obj.is_overdue(at=timezone.now()):
            return format_html('<strong class="cv-support-overdue">En retard – {}</strong>', _local(obj.due_at))
        if obj.status in SupportRequest.OPEN_STATUSES and obj.first_answered_at is None:
            return _local(obj.due_at)
        return format_html('<span class="cv-support-done">{}</span>', _local(obj.due_at))

    @admin.display(description="motif", ordering="reason")
    def reason_short(self, obj: SupportRequest) -> str:
        label = obj.get_reason_display()
        return label if len(label) <= 60 else label[:57] + "…"

    @admin.display(description="demandeur")
    def requester(self, obj: SupportRequest) -> str:
        return obj.requester_label

    @admin.display(description="officine")
    def pharmacy_file_link(self, obj: SupportRequest) -> str:
        if obj.pharmacy_id:
            return format_html(
                '<a href="{}">{}</a> (connectée) – dossier en lecture seule, chaque consultation est journalisée',
                reverse("support_pharmacy_file", args=[obj.pharmacy_id]),
                obj.pharmacy,
            )
        if obj.finess:
            return format_html(
                'FINESS indiqué par le demandeur, non vérifié : <a href="{}?finess={}">rechercher l\'officine</a>',
                reverse("support_pharmacy_search"),
                obj.finess,
            )
        return "—"

    @admin.display(description="commande de la session")
    def order_reference(self, obj: SupportRequest) -> str:
        if obj.order_id is None:
            return "Aucune commande dans la session en cours" if obj.session_id else "—"
        return format_html(
            '<a href="{}#commande-{}">{}</a> ({})',
            reverse("support_pharmacy_file", args=[obj.pharmacy_id]),
            obj.order.reference,
            obj.order.reference,
            obj.order.get_status_display(),
        )

    @admin.display(description="échanges")
    def thread(self, obj: SupportRequest) -> str:
        messages_ = list(obj.messages.select_related("author").order_by("created_at", "id"))
        if not messages_:
            return "Aucun échange pour le moment."
        return format_html(
            '<ol class="cv-support-thread">{}</ol>',
            format_html_join(
                "",
                '<li class="cv-support-{}"><p><strong>{}</strong> – {} – {}{}</p><div>{}</div></li>',
                (
                    (
                        message.kind,
                        message.get_kind_display(),
                        message.author_label,
                        _local(message.created_at),
                        (
                            f" – envoyée par e-mail le {_local(message.emailed_at)}"
                            if message.emailed_at
                            else (" – envoi par e-mail en attente" if message.kind == SupportMessage.Kind.REPLY else "")
                        ),
                        linebreaksbr(message.body),
                    )
                    for message in messages_
                ),
            ),
        )

    # --- saving: every change goes through a service -----------------------------------------

    def save_model(self, request: HttpRequest, obj: SupportRequest, form, change: bool) -> None:
        actor = actor_from_request(request)
        original = SupportRequest.objects.get(pk=obj.pk)
        data = form.cleaned_data
        try:
            if data.get("internal_note", "").strip():
                services.support_note_add(support_request=original, actor=actor, body=data["internal_note"])
            if "assigned_to" in form.changed_data:
                services.support_request_assign(support_request=original, actor=actor, agent=data["assigned_to"])
            status_changed = "status" in form.changed_data
            if status_changed and data["status"] == SupportRequest.Status.IN_PROGRESS:
                # Reopening comes before a reply written in the same save (a closed request takes none).
                if original.status != data["status"]:
                    services.support_request_set_status(support_request=original, actor=actor, status=data["status"])
                status_changed = False
            if data.get("reply", "").strip():
                services.support_reply_add(support_request=original, actor=actor, body=data["reply"])
            if status_changed and data["status"] != original.status:
                services.support_request_set_status(support_request=original, actor=actor, status=data["status"])
        except services.SupportError as error:
            messages.error(request, str(error))
        obj.refresh_from_db()

    # --- actions ----------------------------------------------------------------------------

    def _bulk(self, request: HttpRequest, queryset: QuerySet[SupportRequest], apply, done: str) -> None:
        actor = actor_from_request(request)
        count, errors = 0, []
        for support_request in queryset.order_by("pk"):
            try:
                apply(support_request, actor)
                count += 1
            except services.SupportError as error:
                errors.append(str(error))
        if count:
            self.message_user(request, f"{count} demande(s) {done}.", messages.SUCCESS)
        for error in errors:
            self.message_user(request, error, messages.WARNING)

    @admin.action(description="Prendre en charge (me les attribuer)", permissions=["change"])
    def take(self, request: HttpRequest, queryset: QuerySet[SupportRequest]) -> None:
        self._bulk(
            request,
            queryset,
            lambda sr, actor: services.support_request_assign(support_request=sr, actor=actor, agent=request.user),
            "prise(s) en charge",
        )

    @admin.action(description="Transmettre au niveau 2", permissions=["change"])
    def escalate(self, request: HttpRequest, queryset: QuerySet[SupportRequest]) -> None:
        self._bulk(
            request,
            queryset,
            lambda sr, actor: services.support_request_set_status(
                support_request=sr, actor=actor, status=SupportRequest.Status.ESCALATED
            ),
            "transmise(s) au niveau 2",
        )

    @admin.action(description="Clore", permissions=["change"])
    def close(self, request: HttpRequest, queryset: QuerySet[SupportRequest]) -> None:
        self._bulk(
            request,
            queryset,
            lambda sr, actor: services.support_request_set_status(
                support_request=sr, actor=actor, status=SupportRequest.Status.CLOSED
            ),
            "close(s)",
        )


@admin.register(HelpDocument)
class HelpDocumentAdmin(admin.ModelAdmin):
    form = HelpDocumentAdminForm
    list_display = ["title", "is_published", "size_label", "sort_order", "updated_at", "download"]
    list_editable = ["sort_order"]
    list_filter = ["is_published"]
    search_fields = ["title", "description"]

    @admin.display(description="taille")
    def size_label(self, obj: HelpDocument) -> str:
        return f"{obj.size / 1024:.0f} Ko" if obj.size < 1024 * 1024 else f"{obj.size / (1024 * 1024):.1f} Mo"

    @admin.display(description="lien public")
    def download(self, obj: HelpDocument) -> str:
        return format_html('<a href="{}">Télécharger</a>', reverse("help_document_download", args=[obj.pk]))

    def save_model(self, request, obj, form, change) -> None:
        services.help_document_save(document=obj, actor=actor_from_request(request))
