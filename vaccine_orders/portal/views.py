from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from accounts.access import pharmacy_required
from accounts.models import Pharmacy
from sessions_calendar.selectors import session_current, session_next
from vaccine_orders.audit.actors import actor_from_request
from vaccine_orders.identifiers import normalize_identifier

from . import antispam
from .access import support_agent_required
from .forms import ERROR_MAX_LENGTH, SupportRequestForm
from .opening_hours import OPENING_HOURS_LABEL
from .selectors import (
    help_documents_published,
    news_visible,
    pharmacy_file_for_support,
    support_context_for,
    support_request_of_pharmacy,
    support_requests_of_pharmacy,
)
from .services import SupportRequestInput, support_pharmacy_file_read_log, support_request_create
from .support import SupportReason, support_url

SESSION_LAST_SUPPORT_REFERENCE = "support_last_reference"


def home(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    current = session_current(at=now)
    pharmacy = getattr(request.user, "pharmacy", None) if request.user.is_authenticated else None
    order_status = None
    if pharmacy is not None and current is not None:
        from vaccine_orders.orders.selectors import pharmacy_order_status

        order_status = pharmacy_order_status(pharmacy=pharmacy, session=current)
    return render(
        request,
        "portal/home.html",
        {
            "now": now,
            "current_session": current,
            "next_session": None if current else session_next(at=now),
            "news": news_visible(at=now)[:5],
            "pharmacy": pharmacy,
            "order_status": order_status,
            "closes_in": (current.closes_at - now) if current else None,
        },
    )


# --- news and help (public) ---------------------------------------------------------------------------


@require_safe
def news(request: HttpRequest) -> HttpResponse:
    page = Paginator(news_visible(at=timezone.now()), 10).get_page(request.GET.get("page"))
    return render(request, "portal/news.html", {"page": page, "page_title": "Actualités"})


@require_safe
def help_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/help.html",
        {
            "documents": list(help_documents_published()),
            "opening_hours": OPENING_HOURS_LABEL,
            "page_title": "Besoin d'aide ?",
        },
    )


@require_safe
def help_document_download(request: HttpRequest, pk: int) -> FileResponse:
    document = get_object_or_404(help_documents_published(), pk=pk)
    try:
        stream = document.file.open("rb")
    except FileNotFoundError as error:
        raise Http404("Ce guide n'est plus disponible.") from error
    response = FileResponse(
        stream,
        content_type="application/pdf",
        as_attachment=True,
        filename=f"{slugify(document.title) or 'guide'}.pdf",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- the accessibility statement and the personal data page (public, linked in the footer) -------------------

# The day the accessibility statement was written or last revised (RGAA: it must be dated).
ACCESSIBILITY_STATEMENT_DATE = date(2026, 11, 22)


def _duration_words(days: int) -> str:
    """365 → "1 an", 1095 → "3 ans", 90 → "90 jours"."""
    if days % 365 == 0:
        years = days // 365
        return f"{years} an" if years == 1 else f"{years} ans"
    return f"{days} jours"


@require_safe
def accessibility_statement(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/accessibility.html",
        {
            "page_title": "Déclaration d'accessibilité",
            "statement_date": ACCESSIBILITY_STATEMENT_DATE,
            "site_url": settings.SITE_URL,
            "support_email": settings.SUPPORT_EMAIL,
            "support_link": support_url(SupportReason.AUTRE, error="Accessibilité : contenu inaccessible"),
        },
    )


@require_safe
def personal_data(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/personal_data.html",
        {
            "page_title": "Données personnelles",
            "audit_retention": _duration_words(settings.AUDIT_RETENTION_DAYS),
            "access_log_retention": _duration_words(settings.AUDIT_ACCESS_LOG_RETENTION_DAYS),
            "support_retention": _duration_words(settings.SUPPORT_RETENTION_DAYS),
            "session_minutes": settings.SESSION_COOKIE_AGE // 60,
            "data_protection_email": settings.DATA_PROTECTION_EMAIL,
            "support_email": settings.SUPPORT_EMAIL,
        },
    )


# --- "Contacter le support" (public) ------------------------------------------------------------------


def _requesting_pharmacy(request: HttpRequest) -> Pharmacy | None:
    user = request.user
    return user.pharmacy if user.is_authenticated and user.pharmacy_id else None


def _initial_from_link(request: HttpRequest, pharmacy: Pharmacy | None) -> dict[str, str]:
    """What an error page's link (`support_url`) pre-fills: the reason and the error met."""
    initial: dict[str, str] = {}
    reason = request.GET.get("motif", "")
    if reason in SupportReason.values:
        initial["reason"] = reason
    if error := request.GET.get("erreur", "").strip():
        initial["error"] = error[:ERROR_MAX_LENGTH]
    user = request.user
    if pharmacy is not None:
        initial["email"] = pharmacy.email or user.email
        initial["phone"] = pharmacy.phone
    elif user.is_authenticated:
        initial["email"] = user.email
        initial["name"] = user.get_full_name()
    return initial


@require_http_methods(["GET", "POST"])
def support_request(request: HttpRequest) -> HttpResponse:
    """Reachable logged in or not: the login itself may be what fails."""
    pharmacy = _requesting_pharmacy(request)
    status = 200
    if request.method == "POST":
        form = SupportRequestForm(request.POST, pharmacy=pharmacy)
        if not antispam.support_rate_limit_ip(request):
            form.add_error(None, antispam.RATE_LIMIT_MESSAGE)
            status = 429
        elif form.is_valid():
            data = form.cleaned_data
            # The e-mail limit comes before the token is used up, so that the form shown with the 429 can
            # be sent again, as it is, once the hour has passed.
            if not antispam.support_rate_limit_email(data["email"]):
                form.add_error(None, antispam.RATE_LIMIT_MESSAGE)
                status = 429
            elif not antispam.form_token_consume(data["nonce"]):
                form.reject_token(
                    "Cette demande a déjà été envoyée. Pour une nouvelle demande, renvoyez le formulaire."
                )
            else:
                created = support_request_create(
                    actor=actor_from_request(request),
                    data=SupportRequestInput(
                        reason=data["reason"],
                        message=data["message"],
                        email=data["email"],
                        callback_requested=data["callback_requested"],
                        phone=data["phone"],
                        name=data["name"],
                        finess=data.get("finess", ""),
                        error_message=data["error"],
                    ),
                    user=request.user if request.user.is_authenticated else None,
                    pharmacy=pharmacy,
                )
                request.session[SESSION_LAST_SUPPORT_REFERENCE] = created.reference
                return redirect("support_request_sent")
        if status == 200:
            status = 400
    else:
        form = SupportRequestForm(initial=_initial_from_link(request, pharmacy), pharmacy=pharmacy)
    session, order = support_context_for(pharmacy=pharmacy, at=timezone.now()) if pharmacy else (None, None)
    error_text = form["error"].value() or ""
    return render(
        request,
        "portal/support_form.html",
        {
            "form": form,
            "pharmacy": pharmacy,
            "current_session": session,
            "current_order": order,
            "error_text": error_text,
            "opening_hours": OPENING_HOURS_LABEL,
            "page_title": "Contacter le support",
        },
        status=status,
    )


@require_GET
def support_request_sent(request: HttpRequest) -> HttpResponse:
    reference = request.session.get(SESSION_LAST_SUPPORT_REFERENCE)
    if not reference:
        return redirect("support_request")
    return render(
        request,
        "portal/support_sent.html",
        {
            "reference": reference,
            "is_pharmacy": _requesting_pharmacy(request) is not None,
            "opening_hours": OPENING_HOURS_LABEL,
            "page_title": "Demande envoyée",
        },
    )


# --- "Mes demandes" (the officine) ---------------------------------------------------------------------


@pharmacy_required
@require_GET
def support_my_requests(request: HttpRequest) -> HttpResponse:
    page = Paginator(support_requests_of_pharmacy(pharmacy=request.pharmacy), 20).get_page(request.GET.get("page"))
    return render(request, "portal/my_requests.html", {"page": page, "page_title": "Mes demandes"})


@pharmacy_required
@require_GET
def support_my_request_detail(request: HttpRequest, reference: str) -> HttpResponse:
    support_request_ = support_request_of_pharmacy(pharmacy=request.pharmacy, reference=reference)
    if support_request_ is None:
        raise Http404("Demande introuvable.")
    return render(
        request,
        "portal/my_request_detail.html",
        {
            "support_request": support_request_,
            "replies": support_request_.replies,
            "now": timezone.now(),
            "page_title": f"Demande {support_request_.reference}",
        },
    )


# --- the support's read-only file on an officine --------------------------------------------------------


@support_agent_required
@require_GET
def support_pharmacy_search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("finess", "").strip()
    results: list[Pharmacy] = []
    if query:
        finess = normalize_identifier(query)
        results = list(
            Pharmacy.objects.filter(finess=finess).select_related("department")[:20]
            or Pharmacy.objects.filter(name__icontains=query).select_related("department").order_by("name")[:20]
        )
    return render(
        request,
        "portal/support_pharmacy_search.html",
        {"query": query, "results": results, "page_title": "Support : rechercher une officine"},
    )


@support_agent_required
@require_GET
def support_pharmacy_file(request: HttpRequest, pharmacy_id: int) -> HttpResponse:
    """Orders and effectors of one officine, read-only; every display is journaled."""
    pharmacy = get_object_or_404(Pharmacy.objects.select_related("department__region"), pk=pharmacy_id)
    file = pharmacy_file_for_support(pharmacy=pharmacy)
    support_pharmacy_file_read_log(actor=actor_from_request(request), pharmacy=pharmacy)
    return render(
        request,
        "portal/support_pharmacy_file.html",
        {"file": file, "pharmacy": pharmacy, "page_title": f"Support : dossier de {pharmacy.name}"},
    )
