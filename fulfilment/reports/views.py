"""The reports pages (mounted at /rapports/), for ARS agents (their region only) and SpF staff (the whole
country or any region). Every view is `ars_required` (TOTP second factor included); the scope asked for
in the query string is checked first, and anything outside the agent's region is a 404, never figures."""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.access import ars_required
from vaccine_orders.audit.actors import actor_from_request

from . import charts
from .errors import ReportError, ReportScopeError
from .exports import CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE, Table, csv_response, xlsx_response
from .forms import DailyReportsFilterForm, ReportForm, RequisitionForm
from .selectors import (
    DEFAULT_DIMENSIONS,
    LINE_DATE_COLUMNS,
    LINE_HEADERS,
    PARIS,
    REQUISITION_HEADERS,
    ReportPeriod,
    ReportScope,
    ReportSpec,
    daily_report_for,
    daily_reports_for,
    doses_by_session,
    doses_by_type,
    line_export_queryset,
    line_export_rows,
    report_headers,
    report_queryset,
    report_row,
    report_rows,
    report_scope_for,
    report_totals,
    requisition_queryset,
    requisition_row,
    requisition_rows,
    user_region_id,
    visible_session_ids,
)
from .services import export_record, is_subscribed, subscription_set

PAGE_SIZE = 50
FILE_FORMATS = ("csv", "xlsx")


def _scope_for_request(request: HttpRequest) -> tuple[ReportScope | None, str]:
    """The scope of the query string. Unknown or outside the agent's region: 404. Choices that contradict
    each other (a department of another region than the one chosen): no scope, and the message."""
    try:
        scope = report_scope_for(
            user=request.user,
            region_code=request.GET.get("region", ""),
            department_code=request.GET.get("departement", ""),
            pharmacy_finess=request.GET.get("officine", ""),
        )
    except ReportScopeError as error:
        if error.code == "out_of_scope":
            raise Http404(error.message) from error
        return None, error.message
    return scope, ""


def _today(at: datetime) -> date:
    return timezone.localtime(at, PARIS).date()


def _report_form_and_spec(request: HttpRequest) -> tuple[ReportForm, ReportSpec | None]:
    at = timezone.now()
    today = _today(at)
    scope, scope_error = _scope_for_request(request)
    form = ReportForm(request.GET or None, user=request.user, today=today, at=at)
    if not form.is_bound:
        period = ReportPeriod(start=form.fields["du"].initial, end=form.fields["au"].initial)
        return form, ReportSpec(scope=scope, period=period, dimensions=DEFAULT_DIMENSIONS, at=at)
    valid = form.is_valid()
    if scope_error:
        form.add_error(None, scope_error)
        return form, None
    if not valid:
        return form, None
    cleaned = form.cleaned_data
    spec = ReportSpec(
        scope=scope,
        period=form.period(),
        dimensions=tuple(cleaned["ventilation"]),
        product=cleaned["produit"],
        at=at,
    )
    return form, spec


def _querystring(request: HttpRequest) -> str:
    return urlencode([(k, v) for k, values in request.GET.lists() if k != "page" for v in values])


def _back_to_form(name: str, request: HttpRequest) -> HttpResponseRedirect:
    query = _querystring(request)
    return HttpResponseRedirect(reverse(name) + (f"?{query}" if query else ""))


def _check_format(file_format: str) -> None:
    if file_format not in FILE_FORMATS:
        raise Http404("Format inconnu.")


def _xlsx_too_large(request: HttpRequest, queryset, *, file_format: str, back_to: str) -> HttpResponse | None:
    """A workbook is complete before its first byte leaves: past REPORTS_XLSX_MAX_ROWS rows it would outlast
    the web worker's timeout (gunicorn --timeout 60). The agent is sent back with a message: the CSV, streamed
    as it is read, has no such limit."""
    limit = settings.REPORTS_XLSX_MAX_ROWS
    if file_format != "xlsx" or not limit or queryset.count() <= limit:
        return None
    messages.warning(
        request,
        f"Le fichier XLSX compterait plus de {charts.fr_int(limit)} lignes : trop pour être préparé pendant "
        "votre visite. Téléchargez-le en CSV (sans limite de taille), ou réduisez la période ou le périmètre.",
    )
    return _back_to_form(back_to, request)


def _file_response(table_or_tables: Table | list[Table], *, file_format: str, filename: str) -> HttpResponse:
    if file_format == "csv":
        return csv_response(table_or_tables, filename=f"{filename}.csv")
    tables = table_or_tables if isinstance(table_or_tables, list) else [table_or_tables]
    return xlsx_response(tables, filename=f"{filename}.xlsx")


# --- The reports page -----------------------------------------------------------------------------------


@ars_required
def report_view(request: HttpRequest) -> HttpResponse:
    form, spec = _report_form_and_spec(request)
    context: dict = {
        "form": form,
        "spec": spec,
        "page_title": "Rapports des commandes",
        "querystring": _querystring(request),
        "is_national_user": user_region_id(request.user) is None,
    }
    if spec is not None:
        visible = visible_session_ids(at=spec.at)
        page = Paginator(report_queryset(spec, visible_ids=visible), PAGE_SIZE).get_page(request.GET.get("page"))
        with_quantities = spec.shows_quantities
        context.update(
            headers=report_headers(spec),
            dimension_columns=sum(len(d.headers) for d in spec.ordered_dimensions),
            page=page,
            rows=[report_row(spec, values).values(with_quantities=with_quantities) for values in page.object_list],
            totals=report_totals(spec, visible_ids=visible).values(with_quantities=with_quantities),
            sessions_chart=charts.sessions_chart(doses_by_session(spec, visible_ids=visible)),
            types_chart=charts.types_chart(doses_by_type(spec, visible_ids=visible)),
        )
    return render(request, "reports/index.html", context)


@ars_required
def report_download_view(request: HttpRequest, file_format: str) -> HttpResponse:
    _check_format(file_format)
    _, spec = _report_form_and_spec(request)
    if spec is None:
        return _back_to_form("reports:index", request)
    if response := _xlsx_too_large(request, report_queryset(spec), file_format=file_format, back_to="reports:index"):
        return response
    with_quantities = spec.shows_quantities

    def rows():
        for row in report_rows(spec):
            yield row.values(with_quantities=with_quantities)
        # The total comes last, computed by the database like every row above it.
        yield report_totals(spec).values(with_quantities=with_quantities)

    export_record(
        actor=actor_from_request(request),
        what="Rapport des commandes",
        scope=spec.scope,
        period=spec.period,
        file_format=file_format,
    )
    table = Table(title="Rapport", headers=report_headers(spec), rows=rows())
    return _file_response(table, file_format=file_format, filename=f"rapport-{spec.scope.slug}-{spec.period.slug}")


@ars_required
def lines_download_view(request: HttpRequest, file_format: str) -> HttpResponse:
    """Every order line of the report's scope and period, one row each, streamed from the database."""
    _check_format(file_format)
    _, spec = _report_form_and_spec(request)
    if spec is None:
        return _back_to_form("reports:index", request)
    queryset = line_export_queryset(scope=spec.scope, period=spec.period, at=spec.at, product=spec.product)
    if response := _xlsx_too_large(request, queryset, file_format=file_format, back_to="reports:index"):
        return response
    export_record(
        actor=actor_from_request(request),
        what="Lignes de commande",
        scope=spec.scope,
        period=spec.period,
        file_format=file_format,
    )
    table = Table(
        title="Lignes de commande",
        headers=LINE_HEADERS,
        rows=line_export_rows(queryset),
        date_columns=LINE_DATE_COLUMNS,
        widths={1: 18, 4: 36, 6: 30, 7: 30},
    )
    filename = f"lignes-commande-{spec.scope.slug}-{spec.period.slug}"
    return _file_response(table, file_format=file_format, filename=filename)


# --- The requisition extract -------------------------------------------------------------------------------


def _requisition_form(request: HttpRequest) -> tuple[RequisitionForm, ReportScope | None, datetime]:
    at = timezone.now()
    scope, scope_error = _scope_for_request(request)
    form = RequisitionForm(request.GET or None, user=request.user, today=_today(at), at=at)
    if not form.is_bound:
        return form, None, at
    valid = form.is_valid()
    if scope_error:
        form.add_error(None, scope_error)
        return form, None, at
    return form, (scope if valid else None), at


@ars_required
def requisition_view(request: HttpRequest) -> HttpResponse:
    form, scope, at = _requisition_form(request)
    context: dict = {
        "form": form,
        "page_title": "Extraction pour réquisition",
        "querystring": _querystring(request),
        "is_national_user": user_region_id(request.user) is None,
        "headers": REQUISITION_HEADERS,
    }
    if scope is not None:
        period = form.period()
        product = form.cleaned_data["produit"]
        queryset = requisition_queryset(scope=scope, period=period, product=product, at=at)
        page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
        context.update(
            scope=scope,
            period=period,
            product=product,
            page=page,
            rows=[requisition_row(values) for values in page.object_list],
        )
    return render(request, "reports/requisition.html", context)


@ars_required
def requisition_download_view(request: HttpRequest, file_format: str) -> HttpResponse:
    _check_format(file_format)
    form, scope, at = _requisition_form(request)
    if scope is None:
        return _back_to_form("reports:requisition", request)
    period = form.period()
    product = form.cleaned_data["produit"]
    queryset = requisition_queryset(scope=scope, period=period, product=product, at=at)
    if response := _xlsx_too_large(request, queryset, file_format=file_format, back_to="reports:requisition"):
        return response
    export_record(
        actor=actor_from_request(request),
        what=f"Extraction pour réquisition – {product.name}",
        scope=scope,
        period=period,
        file_format=file_format,
    )
    table = Table(
        title="Réquisition",
        headers=REQUISITION_HEADERS,
        rows=requisition_rows(queryset),
        widths={2: 36, 3: 36, 5: 24, 7: 30},
    )
    filename = f"requisition-{product.code}-{scope.slug}-{period.slug}"
    return _file_response(table, file_format=file_format, filename=filename)


# --- Daily reports ----------------------------------------------------------------------------------------


@ars_required
def daily_list_view(request: HttpRequest) -> HttpResponse:
    """The stored reports of the last 90 days: the agent's region, or every region (SpF, who may filter one).
    Scope parameters are checked like everywhere else: outside the agent's region is a 404."""
    today = _today(timezone.now())
    scope, _ = _scope_for_request(request)
    national = user_region_id(request.user) is None
    region = scope.region if scope is not None else None
    filter_form = DailyReportsFilterForm(request.GET or None) if national else None
    reports = daily_reports_for(user=request.user, today=today, region=region)
    page = Paginator(reports, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "reports/daily_list.html",
        {
            "page": page,
            "filter_form": filter_form,
            "is_national_user": national,
            "subscribed": is_subscribed(user=request.user),
            "querystring": _querystring(request),
            "page_title": "Rapports quotidiens",
        },
    )


@ars_required
def daily_download_view(request: HttpRequest, pk: int, file_format: str) -> HttpResponse:
    """A stored daily report, from the default storage after the region check (never a media URL)."""
    _check_format(file_format)
    _scope_for_request(request)  # a scope parameter outside the agent's region is a 404 here too
    report = daily_report_for(user=request.user, pk=pk, today=_today(timezone.now()))
    if report is None:
        raise Http404("Rapport introuvable.")
    field_file = report.csv_file if file_format == "csv" else report.xlsx_file
    response = FileResponse(
        field_file.storage.open(field_file.name, "rb"),
        as_attachment=True,
        filename=f"rapport-quotidien-{report.region.code}-{report.day:%Y%m%d}.{file_format}",
        content_type=CSV_CONTENT_TYPE if file_format == "csv" else XLSX_CONTENT_TYPE,
    )
    response["Cache-Control"] = "private, no-store"
    return response


@ars_required
@require_POST
def subscription_view(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("abonnement") == "oui"
    try:
        subscription_set(user=request.user, subscribed=wanted, actor=actor_from_request(request))
    except ReportError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            "Vous recevrez chaque matin le lien du rapport quotidien de votre région."
            if wanted
            else "Vous ne recevrez plus le rapport quotidien par e-mail.",
        )
    return HttpResponseRedirect(reverse("reports:daily_list"))
