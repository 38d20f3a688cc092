"""The floor of the opening-rush benchmark: the same transaction as "Valider" (authenticated POST, CSRF,
lock the officine, order + lines, conditional stock update, commit) with nothing else — no caps engine,
no form parsing, no template, no audit, no e-mail. The ratio of the real view to this one is the cost of
everything the service adds."""

from __future__ import annotations

import secrets

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from accounts.models import Pharmacy
from sessions_calendar.models import ProductOffer
from vaccine_orders.orders.models import Order, OrderLine


@login_required
@require_POST
def bare_order(request: HttpRequest, session_id: int) -> HttpResponse:
    pharmacy_id = request.user.pharmacy_id
    lines = []
    for name, value in request.POST.items():
        if name.startswith("q-"):
            _, effector, product, rank = name.split("-")
            lines.append((int(effector), int(product), int(rank), int(value)))
    with transaction.atomic():
        Pharmacy.objects.select_for_update().filter(pk=pharmacy_id).values_list("pk").get()
        order = Order.objects.create(
            reference="B" + secrets.token_hex(6), pharmacy_id=pharmacy_id, session_id=session_id
        )
        OrderLine.objects.bulk_create(
            OrderLine(order=order, effector_id=e, product_id=p, injection_rank=r, quantity_requested=q)
            for e, p, r, q in lines
        )
        for item in request.POST.getlist("stock"):  # "offer id:quantity" for each product with a national stock
            offer_id, quantity = map(int, item.split(":"))
            taken = ProductOffer.objects.filter(pk=offer_id, stock_taken__lte=F("national_stock") - quantity).update(
                stock_taken=F("stock_taken") + quantity
            )
            if not taken:
                transaction.set_rollback(True)
                return HttpResponse("stock épuisé", status=409)
    return HttpResponse(status=204)
