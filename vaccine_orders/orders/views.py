"""The pharmacist's pages: "Saisie de commande" → "Créer"/"Modifier" → grid → "Suivant" → recap →
"Valider"; the order page with its history; "Annuler la commande"; consultation and CSV."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import pharmacy_required
from effectors.models import EffectorType
from sessions_calendar.models import OrderSession
from sessions_calendar.selectors import session_by_id, session_current, session_next
from vaccine_orders.audit.actors import actor_from_request
from vaccine_orders.csvutils import csv_rows
from vaccine_orders.ratelimit import rate_limit

from .caps import RANK_LABELS, CellKey, check_quantities, clip_to_caps
from .forms import parse_grid
from .models import Order, Product
from .selectors import (
    UNIT_WORDS,
    HistoryFilters,
    OrderGrid,
    cap_label,
    history_lines,
    order_for_pharmacy,
    order_grid,
    order_history,
    order_lines,
    orders_for_pharmacy,
    pharmacy_order,
    previous_order,
    totals_by_effector,
    totals_by_product,
)
from .services import OrderError, check_window, diff_lines, new_submission_token, order_cancel, order_submit

PARIS = ZoneInfo("Europe/Paris")
# Refusals that are about the window or the service, not the quantities: shown as a page, not in the grid.
CLOSED_CODES = frozenset({"closed", "not_open_yet", "closed_week", "pilot", "read_only"})


# --- helpers --------------------------------------------------------------------------------------


def _session_or_404(session_id: int) -> OrderSession:
    session = session_by_id(session_id=session_id)
    if session is None:
        raise Http404("Session inconnue.")
    return session


def _grid_context(
    grid: OrderGrid, values: dict[str, str], quantities: dict[CellKey, int], field_errors: dict[str, list[str]]
) -> list[dict]:
    """The grid as the template walks it: blocks → rows → one cell per rank (None when closed)."""
    blocks = []
    for block in grid.blocks:
        unit_plural = UNIT_WORDS[block.product.unit][1]
        total = 0
        rows = []
        for row in block.rows:
            cells = []
            for rank in block.ranks:
                cell = row.cell(rank)
                if cell is None:
                    cells.append(None)
                    continue
                total += quantities.get(cell.key, 0)
                remaining = grid.remaining(cell.key, quantities)
                cells.append(
                    {
                        "cell": cell,
                        "value": values.get(cell.name, str(cell.current) if cell.current else ""),
                        "errors": field_errors.get(cell.name, []),
                        "cap": cap_label(cell.spec.rule, unit_plural),
                        "remaining": remaining,
                        "box_size": cell.spec.box_size,
                    }
                )
            rows.append({"effector": row.effector, "cells": cells})
        blocks.append(
            {
                "block": block,
                "product": block.product,
                "unit_plural": unit_plural,
                "ranks": [(rank, RANK_LABELS[rank].strip(" ()") or "Quantité") for rank in block.ranks],
                "rows": rows,
                "total": total,
                "doses": block.product.doses(total),
                "stock_remaining": block.stock_remaining,
                "box_size": block.offer.box_size,
            }
        )
    return blocks


def _render_grid(
    request: HttpRequest,
    grid: OrderGrid,
    *,
    values: dict[str, str] | None = None,
    quantities: dict[CellKey, int] | None = None,
    field_errors: dict | None = None,
    errors: list[str] | None = None,
    token: str = "",
    version: int | None = None,
    notices: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    quantities = dict(grid.current) if quantities is None else quantities
    context = {
        "page_title": "Saisie de commande",
        "grid": grid,
        "session": grid.session,
        "blocks": _grid_context(grid, values or {}, quantities, field_errors or {}),
        "errors": errors or [],
        "field_error_count": len(field_errors or {}),
        "token": token or new_submission_token(),
        "version": grid.base_version if version is None else version,
        "notices": notices or [],
        "modifying": grid.has_registered_order,
        "previous": previous_order(pharmacy=grid.pharmacy, session=grid.session),
    }
    return render(request, "orders/grid.html", context, status=status)


def _closed_page(request: HttpRequest, session: OrderSession, error: OrderError) -> HttpResponse:
    order = pharmacy_order(pharmacy=request.pharmacy, session=session)
    status = 503 if error.code == "read_only" else 403
    response = render(
        request,
        "orders/closed.html",
        {"page_title": "Saisie de commande", "session": session, "message": error.message, "order": order},
        status=status,
    )
    if status == 503:
        response["Retry-After"] = "600"
    return response


def _session_for_entry(request: HttpRequest, session_id: int) -> tuple[OrderSession, OrderError | None]:
    session = _session_or_404(session_id)
    try:
        check_window(session=session, pharmacy=request.pharmacy, at=timezone.now(), switches=request.service_switches)
    except OrderError as error:
        return session, error
    return session, None


def _recap_lines(grid: OrderGrid, quantities: dict[CellKey, int]) -> tuple[list[dict], list[dict]]:
    by_effector: dict[int, dict] = {}
    by_product: dict[int, dict] = {}
    for key in sorted(quantities):
        quantity = quantities[key]
        effector = grid.effectors[key.effector_id]
        product = grid.product(key.product_id)
        entry = by_effector.setdefault(effector.pk, {"effector": effector, "lines": []})
        entry["lines"].append(
            {
                "product": product,
                "rank": RANK_LABELS[key.rank].strip(" ()"),
                "quantity": quantity,
                "unit": UNIT_WORDS[product.unit][1],
            }
        )
        total = by_product.setdefault(
            product.pk,
            {"product": product, "quantity": 0, "doses": 0, "effectors": set(), "unit": UNIT_WORDS[product.unit][1]},
        )
        total["quantity"] += quantity
        total["doses"] += product.doses(quantity) or 0
        total["effectors"].add(effector.pk)
    ordered_products = sorted(by_product.values(), key=lambda t: (t["product"].sort_order, t["product"].name))
    for total in ordered_products:
        total["effectors"] = len(total["effectors"])
    order = list(grid.effectors)
    return sorted(by_effector.values(), key=lambda e: order.index(e["effector"].pk)), ordered_products


def _snapshot_for_diff(grid: OrderGrid, quantities: dict[CellKey, int]) -> list[dict]:
    snapshot = []
    for key, quantity in quantities.items():
        effector = grid.effectors.get(key.effector_id)
        product = grid.product(key.product_id)
        snapshot.append(
            {
                "effector_id": key.effector_id,
                "product_id": key.product_id,
                "rank": key.rank,
                "effector": effector.display_name if effector else f"Effecteur n° {key.effector_id}",
                "product": product.short_name if product else f"Produit n° {key.product_id}",
                "unit": UNIT_WORDS[product.unit][1] if product else "",
                "quantity": quantity,
            }
        )
    return snapshot


# --- pages ------------------------------------------------------------------------------------------


@pharmacy_required
def order_start(request: HttpRequest) -> HttpResponse:
    """ "Saisie de commande": the open session, this officine's order in it, and "Créer" or "Modifier"."""
    now = timezone.now()
    session = session_current(at=now)
    order = pharmacy_order(pharmacy=request.pharmacy, session=session) if session else None
    refusal = None
    if session is not None:
        try:
            check_window(session=session, pharmacy=request.pharmacy, at=now, switches=request.service_switches)
        except OrderError as error:
            refusal = error.message
    return render(
        request,
        "orders/start.html",
        {
            "page_title": "Saisie de commande",
            "session": session,
            "next_session": None if session else session_next(at=now),
            "order": order,
            "refusal": refusal,
            "lines": order_lines(order=order) if order and order.status == Order.Status.REGISTERED else [],
        },
    )


@pharmacy_required
@rate_limit("order_entry")
@require_http_methods(["GET", "POST"])
def order_entry(request: HttpRequest, session_id: int) -> HttpResponse:
    """The grid. GET shows the registered quantities (or the previous order's, clipped to this session's
    caps, with ?reprendre=1); POST "suivant" shows the recap, POST "retour" comes back from it, and an
    htmx POST returns the live totals and cap messages."""
    session, refusal = _session_for_entry(request, session_id)
    if refusal:
        return _closed_page(request, session, refusal)
    grid = order_grid(pharmacy=request.pharmacy, session=session)

    if request.method == "GET":
        if request.GET.get("reprendre") and (previous := previous_order(pharmacy=request.pharmacy, session=session)):
            wanted = {
                CellKey(e, p, r): q
                for e, p, r, q in previous.lines.values_list(
                    "effector_id", "product_id", "injection_rank", "quantity_requested"
                )
            }
            clipped, changed = clip_to_caps(cells=grid.cells, wanted=wanted, stocks=grid.stocks)
            notices = [f"Quantités reprises de votre commande {previous.reference} ({previous.session})."]
            if changed:
                notices.append(
                    f"{len(changed)} ligne(s) ont été réduites ou retirées pour respecter les plafonds "
                    "et les produits ouverts de cette session."
                )
            values = {key.field_name: str(q) for key, q in clipped.items()}
            values.update({key.field_name: "" for key in grid.cells if key not in clipped})
            return _render_grid(request, grid, values=values, quantities=clipped, notices=notices)
        return _render_grid(request, grid)

    parsed = parse_grid(request.POST, grid)
    action = request.POST.get("action", "suivant")
    if request.htmx:
        check = check_quantities(cells=grid.cells, quantities=parsed.quantities, stocks=grid.stocks, labels=grid.labels)
        field_errors = {**check.field_errors, **parsed.field_errors}
        return render(
            request,
            "orders/_grid_live.html",
            {
                "blocks": _grid_context(grid, parsed.raw, parsed.quantities, field_errors),
                "errors": check.errors,
                "field_error_count": len(field_errors),
            },
        )
    if action == "retour" or not parsed.ok:
        return _render_grid(
            request,
            grid,
            values=parsed.raw,
            quantities=parsed.quantities,
            field_errors=parsed.field_errors,
            errors=parsed.errors,
            token=parsed.token,
            version=parsed.base_version,
        )
    check = check_quantities(cells=grid.cells, quantities=parsed.quantities, stocks=grid.stocks, labels=grid.labels)
    if not parsed.quantities:
        check.errors.append(
            "Votre commande est vide : saisissez au moins une quantité."
            if not grid.has_registered_order
            else "Pour retirer toutes les lignes, utilisez « Annuler la commande »."
        )
    if not check.ok:
        return _render_grid(
            request,
            grid,
            values=parsed.raw,
            quantities=parsed.quantities,
            field_errors=check.field_errors,
            errors=check.errors,
            token=parsed.token,
            version=parsed.base_version,
        )
    by_effector, by_product = _recap_lines(grid, parsed.quantities)
    changes = (
        diff_lines(_snapshot_for_diff(grid, grid.current), _snapshot_for_diff(grid, parsed.quantities))
        if grid.has_registered_order
        else []
    )
    return render(
        request,
        "orders/recap.html",
        {
            "page_title": "Récapitulatif de la commande",
            "session": session,
            "grid": grid,
            "by_effector": by_effector,
            "by_product": by_product,
            "changes": changes,
            "hidden": {key.field_name: q for key, q in sorted(parsed.quantities.items())},
            "token": parsed.token,
            "version": parsed.base_version,
            "modifying": grid.has_registered_order,
        },
    )


@pharmacy_required
@rate_limit("order_validate")
@require_POST
def order_validate(request: HttpRequest, session_id: int) -> HttpResponse:
    """ "Valider": register the order through the ordering service, which checks the window, the version,
    the caps and the stock under lock; the grid is read again only to show errors."""
    session = _session_or_404(session_id)
    parsed = parse_grid(request.POST, None)
    error: OrderError | None = None
    if parsed.ok:
        try:
            result = order_submit(
                pharmacy=request.pharmacy,
                session=session,
                quantities=parsed.quantities,
                base_version=parsed.base_version,
                submission_token=parsed.token,
                actor=actor_from_request(request),
                switches=request.service_switches,
            )
        except OrderError as exc:
            error = exc
        else:
            order = result.order
            if result.duplicate:
                messages.info(request, f"Cette saisie était déjà enregistrée (commande {order.reference}).")
            else:
                verb = "enregistrée" if result.created else "modifiée"
                messages.success(
                    request,
                    f"Commande {order.reference} {verb}. Un accusé de réception vous est envoyé par e-mail ; ce "
                    "n'est pas une confirmation de livraison : les quantités confirmées seront visibles dans "
                    "« Suivi de commande ».",
                )
            return redirect("orders:detail", reference=order.reference)

    if error is not None and error.code in CLOSED_CODES:
        return _closed_page(request, session, error)
    # A refusal on the quantities was decided on a grid read moments ago, under the officine's lock: show that one
    # (a refused order under the opening rush then costs one grid read, not two). Otherwise read it now.
    grid = (
        error.grid
        if error is not None and error.grid is not None
        else order_grid(pharmacy=request.pharmacy, session=session)
    )
    if error is not None and error.code == "conflict":
        current = order_lines(order=grid.order) if grid.has_registered_order else []
        return render(
            request,
            "orders/conflict.html",
            {
                "page_title": "Commande modifiée entre-temps",
                "session": session,
                "message": error.message,
                "order": grid.order,
                "current_by_product": totals_by_product(current),
                "current_by_effector": totals_by_effector(current),
                "hidden": {key.field_name: q for key, q in sorted(parsed.quantities.items())},
                "version": grid.base_version,
                "token": new_submission_token(),
            },
            status=409,
        )
    field_errors = parsed.field_errors if error is None else error.field_errors
    errors = parsed.errors if error is None else [error.message, *error.errors]
    values = {name: value for name, value in parsed.raw.items() if CellKey.parse(name) in grid.cells}
    return _render_grid(
        request,
        grid,
        values=values,
        quantities={k: q for k, q in parsed.quantities.items() if k in grid.cells},
        field_errors=field_errors,
        errors=errors,
        token=parsed.token,
        version=parsed.base_version,
    )


@pharmacy_required
def order_detail(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        order = order_for_pharmacy(pharmacy=request.pharmacy, reference=reference)
    except Order.DoesNotExist:
        raise Http404("Commande introuvable") from None
    lines = order_lines(order=order)
    open_now = order.session.is_open_at(timezone.now())
    events = []
    for event in order_history(order=order)[:100]:
        before = (event.before or {}).get("lines", [])
        after = (event.after or {}).get("lines", [])
        events.append({"event": event, "changes": diff_lines(before, after)})
    return render(
        request,
        "orders/detail.html",
        {
            "page_title": f"Commande {order.reference}",
            "order": order,
            "session": order.session,
            "by_product": totals_by_product(lines),
            "by_effector": totals_by_effector(lines),
            "editable": open_now and order.status == Order.Status.REGISTERED,
            "can_recreate": open_now and order.status == Order.Status.CANCELLED,
            "events": events,
        },
    )


@pharmacy_required
@rate_limit("order_cancel")
@require_http_methods(["GET", "POST"])
def order_cancel_view(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        order = order_for_pharmacy(pharmacy=request.pharmacy, reference=reference)
    except Order.DoesNotExist:
        raise Http404("Commande introuvable") from None
    if request.method == "POST":
        version = request.POST.get("version", "")
        try:
            order_cancel(
                order=order,
                base_version=int(version) if version.isdigit() else -1,
                actor=actor_from_request(request),
                switches=request.service_switches,
            )
        except OrderError as error:
            if error.code in CLOSED_CODES:
                return _closed_page(request, order.session, error)
            messages.error(request, error.message)
            return redirect("orders:detail", reference=order.reference)
        messages.success(
            request, f"Commande {order.reference} annulée. Le stock national éventuel est remis à disposition."
        )
        return redirect("orders:detail", reference=order.reference)
    return render(request, "orders/cancel.html", {"page_title": "Annuler la commande", "order": order})


@pharmacy_required
def order_list(request: HttpRequest) -> HttpResponse:
    orders = orders_for_pharmacy(pharmacy=request.pharmacy)
    page = Paginator(orders, 20).get_page(request.GET.get("page"))
    return render(
        request,
        "orders/list.html",
        {"page_title": "Mes commandes", "page": page, "current_session": session_current(at=timezone.now())},
    )


def _history_filters(request: HttpRequest) -> tuple[HistoryFilters, list[str]]:
    errors = []
    filters = HistoryFilters(
        kind=request.GET.get("nature", "")
        if request.GET.get("nature") in ("professional", "establishment", "pharmacy")
        else "",
        effector_type=request.GET.get("type", "")[:32],
        product=request.GET.get("produit", "")[:40],
        query=request.GET.get("q", "")[:100],
    )
    for name, attr, end_of_day in (("du", "since", False), ("au", "until", True)):
        value = request.GET.get(name, "")
        if value:
            try:
                day = datetime.strptime(value, "%Y-%m-%d").date()  # noqa: DTZ007 - a date, made aware below
            except ValueError:
                errors.append(f"Date « {value} » invalide : utilisez le sélecteur de date (jj/mm/aaaa).")
                continue
            instant = datetime.combine(day, time.max if end_of_day else time.min, tzinfo=PARIS)
            setattr(filters, attr, instant)
    return filters, errors


@pharmacy_required
def history(request: HttpRequest) -> HttpResponse:
    """History by professional and by establishment, with filters; the same data in CSV."""
    filters, errors = _history_filters(request)
    lines = history_lines(pharmacy=request.pharmacy, filters=filters)
    if request.GET.get("format") == "csv":
        return _history_csv(request, lines)
    page = Paginator(lines, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "orders/history.html",
        {
            "page_title": "Historique des commandes",
            "page": page,
            "filters": filters,
            "errors": errors,
            "types": EffectorType.objects.all(),
            "products": Product.objects.filter(order_lines__order__pharmacy=request.pharmacy).distinct(),
            "querystring": query.urlencode(),
            "csv_query": (query.urlencode() + "&" if query else "") + "format=csv",
        },
    )


def _history_csv(request: HttpRequest, lines) -> StreamingHttpResponse:
    header = [
        "Session (ouverture)",
        "Référence",
        "Type d'effecteur",
        "Effecteur",
        "RPPS / FINESS",
        "Produit",
        "Rang d'injection",
        "Quantité demandée",
        "Unité",
        "Doses",
        "Quantité confirmée",
    ]

    def rows():
        for line in lines.iterator(chunk_size=2000):
            effector = line.effector
            identifier = (
                effector.professional.rpps
                if effector.professional_id
                else effector.establishment.finess
                if effector.establishment_id
                else ""
            )
            yield [
                timezone.localtime(line.order.session.opens_at).strftime("%d/%m/%Y"),
                line.order.reference,
                effector.type.label,
                effector.display_name,
                identifier,
                line.product.name,
                RANK_LABELS[line.injection_rank].strip(" ()"),
                line.quantity_requested,
                UNIT_WORDS[line.product.unit][1],
                line.product.doses(line.quantity_requested) or "",
                ""
                if line.quantity_confirmed is None or not line.order.session.confirmations_visible_at(timezone.now())
                else line.quantity_confirmed,
            ]

    response = StreamingHttpResponse(csv_rows(header, rows()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="commandes-{request.pharmacy.finess}.csv"'
    return response
