from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from import_export.admin import ImportMixin
from import_export.formats import base_formats

from vaccine_orders.audit.actors import actor_from_request

from .errors import EffectorError
from .forms import ReferentialImportForm
from .models import (
    Attachment,
    Effector,
    EffectorType,
    Establishment,
    ImportRejection,
    Professional,
    ReferentialImport,
    TransferRequest,
)
from .referential.runner import referential_import_abandon, referential_import_create
from .resources import AttachmentMigrationResource, FrenchCSV
from .services import attachment_detach, attachment_review_clear, transfer_request_decide_by_support
from .tasks import referential_import_task


@admin.register(EffectorType)
class EffectorTypeAdmin(admin.ModelAdmin):
    list_display = ["label", "code", "kind", "is_nominative", "receives_mailing", "sort_order"]
    list_filter = ["kind", "is_nominative"]
    search_fields = ["label", "code"]


@admin.register(Professional)
class ProfessionalAdmin(admin.ModelAdmin):
    list_display = ["rpps", "last_name", "first_name", "profession_label", "department", "is_active"]
    list_select_related = ["department"]
    list_filter = ["is_active", "profession_code"]
    search_fields = ["rpps", "last_name", "first_name"]
    autocomplete_fields = ["department"]
    show_facets = admin.ShowFacets.NEVER


@admin.register(Establishment)
class EstablishmentAdmin(admin.ModelAdmin):
    list_display = ["finess", "name", "category_label", "city", "department", "is_active"]
    list_select_related = ["department"]
    list_filter = ["is_active", "category_code"]
    search_fields = ["finess", "name", "city"]
    autocomplete_fields = ["department"]
    show_facets = admin.ShowFacets.NEVER


@admin.register(Effector)
class EffectorAdmin(admin.ModelAdmin):
    list_display = ["__str__", "type", "professional", "establishment", "pharmacy"]
    list_select_related = ["type", "professional", "establishment", "pharmacy"]
    list_filter = ["type"]
    search_fields = [
        "professional__rpps",
        "professional__last_name",
        "establishment__finess",
        "establishment__name",
    ]
    raw_id_fields = ["professional", "establishment", "pharmacy"]


@admin.register(Attachment)
class AttachmentAdmin(ImportMixin, admin.ModelAdmin):
    """Attachments are made by the officines, the migration import and transfers (services); here support
    looks, imports the previous portal's file, and acts through the actions."""

    resource_classes = [AttachmentMigrationResource]
    list_display = ["effector", "pharmacy", "attached_at", "detached_at", "source", "needs_review"]
    list_select_related = [
        "effector__type",
        "effector__professional",
        "effector__establishment",
        "effector__pharmacy",
        "pharmacy",
    ]
    list_filter = ["source", "needs_review", ("detached_at", admin.EmptyFieldListFilter)]
    search_fields = ["pharmacy__finess", "effector__professional__rpps", "effector__establishment__finess"]
    raw_id_fields = ["effector", "pharmacy", "attached_by", "detached_by"]
    readonly_fields = [
        "effector",
        "pharmacy",
        "attached_at",
        "detached_at",
        "attached_by",
        "detached_by",
        "source",
        "needs_review",
        "review_reason",
    ]
    date_hierarchy = "attached_at"
    actions = ["mark_reviewed", "detach_by_support"]

    @property
    def import_formats(self) -> list[type]:
        return [FrenchCSV, base_formats.XLSX]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Marquer comme revus les rattachements sélectionnés")
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[Attachment]) -> None:
        actor = actor_from_request(request)
        cleared = sum(attachment_review_clear(attachment=a, actor=actor) for a in queryset.select_related("pharmacy"))
        self.message_user(request, f"{cleared} rattachement(s) marqué(s) comme revu(s).", messages.SUCCESS)

    @admin.action(description="Retirer les rattachements sélectionnés (décision du support)")
    def detach_by_support(self, request: HttpRequest, queryset: QuerySet[Attachment]) -> None:
        actor = actor_from_request(request)
        done, refused = 0, []
        for attachment in queryset.select_related("pharmacy", "effector"):
            try:
                attachment_detach(pharmacy=attachment.pharmacy, attachment=attachment, actor=actor)
                done += 1
            except EffectorError as error:
                refused.append(f"{attachment} : {error.message}")
        self.message_user(request, f"{done} rattachement(s) retiré(s).", messages.SUCCESS)
        for text in refused:
            self.message_user(request, text, messages.WARNING)


@admin.register(ReferentialImport)
class ReferentialImportAdmin(admin.ModelAdmin):
    """Upload an extraction (the import runs in a Celery worker) and read its report."""

    form = ReferentialImportForm
    list_display = [
        "__str__",
        "status",
        "created_at",
        "lines_read",
        "created_count",
        "updated_count",
        "unchanged_count",
        "rejected_count",
        "deactivated_count",
        "flagged_count",
        "duration",
    ]
    list_filter = ["kind", "status"]
    list_select_related = ["created_by"]
    actions = ["abandon"]
    report_fields = [
        "kind",
        "status",
        "source_name",
        "allow_mass_deactivation",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "duration",
        "lines_read",
        "created_count",
        "updated_count",
        "unchanged_count",
        "rejected_count",
        "skipped_count",
        "deactivated_count",
        "flagged_count",
        "details_list",
        "rejections_preview",
        "error_message",
    ]

    def get_fields(self, request: HttpRequest, obj: ReferentialImport | None = None) -> list[str]:
        return ["kind", "source_file", "allow_mass_deactivation"] if obj is None else self.report_fields

    def get_readonly_fields(self, request: HttpRequest, obj: ReferentialImport | None = None) -> list[str]:
        return [] if obj is None else self.report_fields

    def has_delete_permission(self, request: HttpRequest, obj: ReferentialImport | None = None) -> bool:
        return False  # the report is kept

    @admin.display(description="durée")
    def duration(self, obj: ReferentialImport) -> str:
        seconds = obj.duration_seconds
        return "—" if seconds is None else f"{seconds:.0f} s"

    @admin.display(description="détails")
    def details_list(self, obj: ReferentialImport) -> str:
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{} : {}</li>", sorted(obj.details.items())))

    @admin.display(description="lignes rejetées (les 20 premières)")
    def rejections_preview(self, obj: ReferentialImport) -> str:
        rejections = obj.rejections.all()[:20]
        if not rejections:
            return "Aucune"
        url = reverse("admin:effectors_importrejection_changelist") + f"?run__id__exact={obj.pk}"
        return format_html(
            "<ul>{}</ul><a href='{}'>Voir les {} lignes rejetées</a>",
            format_html_join(
                "",
                "<li>Ligne {} : {} <code>{}</code></li>",
                ((r.line_number, r.reason, r.excerpt[:80]) for r in rejections),
            ),
            url,
            obj.rejected_count,
        )

    def save_model(self, request: HttpRequest, obj: ReferentialImport, form, change: bool) -> None:
        if change:
            return
        run = referential_import_create(
            kind=obj.kind,
            actor=actor_from_request(request),
            upload=form.cleaned_data["source_file"],
            allow_mass_deactivation=obj.allow_mass_deactivation,
        )
        # Enqueued once the upload is committed: the worker must find the row and the file.
        referential_import_task.delay_on_commit(run.pk)
        obj.pk = run.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            "Import lancé : il se déroule en arrière-plan (quelques minutes pour le RPPS). Rechargez cette page "
            "pour suivre son état.",
            messages.INFO,
        )

    @admin.action(description="Marquer comme échoué (import interrompu)")
    def abandon(self, request: HttpRequest, queryset: QuerySet[ReferentialImport]) -> None:
        actor = actor_from_request(request)
        count = sum(referential_import_abandon(run=run, actor=actor) for run in queryset)
        self.message_user(request, f"{count} import(s) marqué(s) comme échoué(s).", messages.SUCCESS)


@admin.register(ImportRejection)
class ImportRejectionAdmin(admin.ModelAdmin):
    list_display = ["run", "line_number", "reason", "excerpt"]
    list_filter = ["run__kind"]
    list_select_related = ["run"]
    search_fields = ["reason", "excerpt"]
    readonly_fields = ["run", "line_number", "reason", "excerpt"]
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ImportRejection | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ImportRejection | None = None) -> bool:
        return False


class AwaitingSupportFilter(admin.SimpleListFilter):
    title = "décision du support"
    parameter_name = "support"

    def lookups(self, request, model_admin):
        return [("a_decider", "À décider (sans réponse depuis 7 jours)")]

    def queryset(self, request, queryset):
        if self.value() == "a_decider":
            return queryset.filter(
                status=TransferRequest.Status.PENDING,
                created_at__lte=timezone.now() - TransferRequest.ANSWER_DELAY,
            )
        return queryset


@admin.register(TransferRequest)
class TransferRequestAdmin(admin.ModelAdmin):
    list_display = [
        "effector",
        "from_pharmacy",
        "to_pharmacy",
        "status",
        "created_at",
        "answer_due",
        "decided_by_support",
    ]
    list_filter = [AwaitingSupportFilter, "status", "decided_by_support"]
    list_select_related = [
        "effector__type",
        "effector__professional",
        "effector__establishment",
        "effector__pharmacy",
        "from_pharmacy",
        "to_pharmacy",
    ]
    search_fields = [
        "effector__professional__rpps",
        "effector__establishment__finess",
        "from_pharmacy__finess",
        "to_pharmacy__finess",
    ]
    readonly_fields = [
        "effector",
        "from_pharmacy",
        "to_pharmacy",
        "status",
        "created_at",
        "created_by",
        "decided_at",
        "decided_by",
        "decided_by_support",
        "decision_note",
    ]
    actions = ["accept_by_support", "refuse_by_support"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: TransferRequest | None = None) -> bool:
        return False

    @admin.display(description="réponse attendue avant le")
    def answer_due(self, obj: TransferRequest) -> str:
        due = obj.support_may_decide_at
        late = obj.status == TransferRequest.Status.PENDING and due <= timezone.now()
        text = f"{timezone.localtime(due):%d/%m/%Y %H:%M}"
        return format_html("<strong>{} (au support de décider)</strong>", text) if late else text

    def _decide(self, request: HttpRequest, queryset: QuerySet[TransferRequest], *, accept: bool) -> None:
        actor = actor_from_request(request)
        done = 0
        for transfer in queryset.select_related("effector", "from_pharmacy", "to_pharmacy"):
            try:
                transfer_request_decide_by_support(transfer=transfer, accept=accept, actor=actor)
                done += 1
            except EffectorError as error:
                self.message_user(request, f"{transfer} : {error.message}", messages.WARNING)
        verb = "accepté(s)" if accept else "refusé(s)"
        self.message_user(request, f"{done} transfert(s) {verb} par le support.", messages.SUCCESS)

    @admin.action(description="Accepter le transfert (décision du support, après 7 jours sans réponse)")
    def accept_by_support(self, request: HttpRequest, queryset: QuerySet[TransferRequest]) -> None:
        self._decide(request, queryset, accept=True)

    @admin.action(description="Refuser le transfert (décision du support, après 7 jours sans réponse)")
    def refuse_by_support(self, request: HttpRequest, queryset: QuerySet[TransferRequest]) -> None:
        self._decide(request, queryset, accept=False)
