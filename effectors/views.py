"""Mes effecteurs: the officine's attached professionals and establishments, the referential search, attach,
detach, contact e-mail, transfers and history. Thin views: a form, one service, the error state."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import pharmacy_required
from vaccine_orders.audit.actors import actor_from_request
from vaccine_orders.portal.support import SupportReason, support_url

from . import selectors, services
from .errors import STATE_TITLES, EffectorError
from .forms import ContactEmailForm, IdentifierForm, SearchForm
from .models import Attachment, TransferRequest

STATUS_OF = {
    EffectorError.NOT_FOUND: 404,
    EffectorError.ALREADY_ATTACHED_ELSEWHERE: 409,
    EffectorError.ALREADY_ATTACHED_HERE: 409,
    EffectorError.TRANSFER_PENDING: 409,
    EffectorError.TRANSFER_NOT_PENDING: 409,
    EffectorError.TRANSFER_STALE: 409,
    EffectorError.NOT_ATTACHED: 409,
}


def _state_context(error: EffectorError, *, identifier: str = "") -> dict[str, object]:
    """What the error page says, and the next step it offers."""
    context: dict[str, object] = {
        "code": error.code,
        "title": STATE_TITLES.get(error.code, "Opération impossible"),
        "message": error.message,
        "identifier": identifier,
    }
    if error.code == EffectorError.ALREADY_ATTACHED_ELSEWHERE:
        context["transfer_possible"] = bool(identifier)
        context["support_link"] = support_url(SupportReason.EFFECTEUR_AUTRE_OFFICINE, error=error.message)
    elif error.code in (EffectorError.NOT_FOUND, EffectorError.INACTIVE):
        context["support_link"] = support_url(SupportReason.EFFECTEUR_INTROUVABLE, error=error.message)
    return context


def _error_page(request: HttpRequest, error: EffectorError, *, identifier: str = "") -> HttpResponse:
    context = _state_context(error, identifier=identifier)
    context["page_title"] = context["title"]
    return render(request, "effectors/error_state.html", context, status=STATUS_OF.get(error.code, 400))


@pharmacy_required
def effector_list(request: HttpRequest) -> HttpResponse:
    pharmacy = request.pharmacy
    attachments = list(selectors.attachment_list_active(pharmacy=pharmacy))
    if not any(a.effector.pharmacy_id for a in attachments):
        # An officine created before its own lines existed (or by hand in the admin).
        services.pharmacy_own_effectors_ensure(pharmacy=pharmacy, actor=actor_from_request(request))
        attachments = list(selectors.attachment_list_active(pharmacy=pharmacy))
    return render(
        request,
        "effectors/list.html",
        {
            "page_title": "Mes effecteurs",
            "attachments": attachments,
            "received": list(selectors.transfer_requests_received(pharmacy=pharmacy)),
            "sent": list(selectors.transfer_requests_sent(pharmacy=pharmacy)),
        },
    )


@pharmacy_required
def effector_search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    outcome = None
    not_found_state = None
    if form.is_bound and form.is_valid():
        department = form.cleaned_data["departement"]
        outcome = selectors.referential_search(
            pharmacy=request.pharmacy, query=form.cleaned_data["q"], department_id=department.pk if department else None
        )
        if outcome.not_found:
            error = services.not_found_error(outcome.not_found)
            not_found_state = _state_context(error, identifier=outcome.not_found)
    return render(
        request,
        "effectors/search.html",
        {
            "page_title": "Rattacher un professionnel ou un établissement",
            "form": form,
            "outcome": outcome,
            "not_found_state": not_found_state,
            "support_not_found": support_url(SupportReason.EFFECTEUR_INTROUVABLE),
        },
    )


@require_POST
@pharmacy_required
def effector_attach(request: HttpRequest) -> HttpResponse:
    form = IdentifierForm(request.POST)
    if not form.is_valid():
        error = EffectorError(EffectorError.NOT_FOUND, " ".join(form.errors["identifiant"]))
        return _error_page(request, error)
    identifier = form.cleaned_data["identifiant"]
    try:
        attachment = services.attachment_attach(
            pharmacy=request.pharmacy, identifier=identifier, actor=actor_from_request(request)
        )
    except EffectorError as error:
        return _error_page(request, error, identifier=identifier)
    messages.success(request, f"{attachment.effector.display_name} est rattaché(e) à votre officine.")
    return redirect("effectors:list")


def _own_attachment(request: HttpRequest, attachment_id: int) -> Attachment:
    attachment = selectors.attachment_for_pharmacy(pharmacy=request.pharmacy, attachment_id=attachment_id)
    if attachment is None:
        raise Http404("Aucun effecteur rattaché à votre officine ne correspond.")
    return attachment


@require_http_methods(["GET", "POST"])
@pharmacy_required
def effector_detach(request: HttpRequest, attachment_id: int) -> HttpResponse:
    attachment = _own_attachment(request, attachment_id)
    if request.method == "POST":
        try:
            services.attachment_detach(
                pharmacy=request.pharmacy, attachment=attachment, actor=actor_from_request(request)
            )
        except EffectorError as error:
            return _error_page(request, error)
        messages.success(request, f"{attachment.effector.display_name} a été retiré(e) de vos effecteurs.")
        return redirect("effectors:list")
    if attachment.effector.pharmacy_id:
        return _error_page(
            request,
            EffectorError(
                EffectorError.OWN_LINE,
                f"La ligne « {attachment.effector.display_name} » est propre à votre officine : elle ne peut pas "
                "être retirée.",
            ),
        )
    return render(
        request,
        "effectors/detach_confirm.html",
        {"page_title": "Retirer un effecteur", "attachment": attachment},
    )


@require_http_methods(["GET", "POST"])
@pharmacy_required
def effector_contact(request: HttpRequest, attachment_id: int) -> HttpResponse:
    attachment = _own_attachment(request, attachment_id)
    effector = attachment.effector
    if effector.professional_id is None or not effector.type.receives_mailing:
        raise Http404("Ce type d'effecteur n'a pas d'e-mail de contact.")
    form = ContactEmailForm(request.POST or None, initial={"email": effector.professional.email})
    if request.method == "POST" and form.is_valid():
        try:
            services.effector_contact_update(
                pharmacy=request.pharmacy,
                attachment=attachment,
                email=form.cleaned_data["email"],
                actor=actor_from_request(request),
            )
        except EffectorError as error:
            return _error_page(request, error)
        except ValidationError as error:
            form.add_error("email", error)
        else:
            messages.success(request, f"L'e-mail de contact de {effector.display_name} est enregistré.")
            return redirect("effectors:list")
    return render(
        request,
        "effectors/contact.html",
        {"page_title": "E-mail de contact", "attachment": attachment, "form": form},
    )


@pharmacy_required
def effector_history(request: HttpRequest) -> HttpResponse:
    events = selectors.pharmacy_effector_history(pharmacy=request.pharmacy)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    for event in page.object_list:
        event.label = selectors.ACTION_LABELS.get(event.action, event.action)
    return render(
        request,
        "effectors/history.html",
        {
            "page_title": "Historique des rattachements",
            "page": page,
        },
    )


@require_POST
@pharmacy_required
def transfer_request(request: HttpRequest) -> HttpResponse:
    form = IdentifierForm(request.POST)
    if not form.is_valid():
        return _error_page(request, EffectorError(EffectorError.NOT_FOUND, " ".join(form.errors["identifiant"])))
    identifier = form.cleaned_data["identifiant"]
    try:
        services.transfer_request_create(
            pharmacy=request.pharmacy, identifier=identifier, actor=actor_from_request(request)
        )
    except EffectorError as error:
        return _error_page(request, error, identifier=identifier)
    messages.success(
        request,
        "Votre demande de transfert est envoyée à l'officine actuelle. Elle a 7 jours pour l'accepter ou la "
        "refuser ; sans réponse, le support de Santé publique France décidera.",
    )
    return redirect("effectors:list")


def _transfer(request: HttpRequest, transfer_id: int, *, received: bool) -> TransferRequest:
    transfer = selectors.transfer_request_for_pharmacy(
        pharmacy=request.pharmacy, transfer_id=transfer_id, received=received
    )
    if transfer is None:
        raise Http404("Aucune demande de transfert de votre officine ne correspond.")
    return transfer


@require_POST
@pharmacy_required
def transfer_answer(request: HttpRequest, transfer_id: int, decision: str) -> HttpResponse:
    transfer = _transfer(request, transfer_id, received=True)
    accept = decision == "accepter"
    try:
        services.transfer_request_answer(
            pharmacy=request.pharmacy, transfer=transfer, accept=accept, actor=actor_from_request(request)
        )
    except EffectorError as error:
        return _error_page(request, error)
    name = transfer.effector.display_name
    messages.success(
        request,
        f"Transfert accepté : {name} est désormais rattaché(e) à l'autre officine."
        if accept
        else f"Transfert refusé : {name} reste rattaché(e) à votre officine.",
    )
    return redirect("effectors:list")


@require_POST
@pharmacy_required
def transfer_cancel(request: HttpRequest, transfer_id: int) -> HttpResponse:
    transfer = _transfer(request, transfer_id, received=False)
    try:
        services.transfer_request_cancel(
            pharmacy=request.pharmacy, transfer=transfer, actor=actor_from_request(request)
        )
    except EffectorError as error:
        return _error_page(request, error)
    messages.success(request, "Votre demande de transfert est annulée.")
    return redirect(reverse("effectors:list"))
