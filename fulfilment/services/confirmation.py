"""Confirmation by logistics: confirm as ordered, reduce a line with a reason, share a short stock (pro
rata or first come first served), delivery dates per session and region, deliveries.

Requested quantities are never touched: confirmed and delivered quantities are columns of their own
(the database refuses confirmed > requested and delivered > confirmed). Every write locks the rows it
changes (or updates them conditionally), records an audit event per officine in the same transaction,
and asks for the PDF summaries concerned to be rendered again once committed.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Region
from sessions_calendar.models import OrderSession, ProductOffer
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record
from vaccine_orders.orders.models import Order, OrderLine, Product

from ..errors import FulfilmentError
from ..models import RegionalDeliveryDate, SessionFulfilment

PRO_RATA_REASON = "Stock disponible insuffisant : répartition au prorata des demandes."
FIRST_COME_REASON = "Stock disponible épuisé : règle du premier arrivé, premier servi."


def _check_session_closed(session: OrderSession, at: datetime) -> None:
    if at < session.closes_at:
        raise FulfilmentError("session_not_closed")


def summaries_refresh_on_commit(order_ids: Iterable[int]) -> None:
    """Once the transaction commits, render again the PDF summaries of these orders (in chunks; a task
    skips an order whose content has not changed)."""
    from ..tasks import render_summaries_pdf

    ids = sorted(set(order_ids))
    for start in range(0, len(ids), 100):
        render_summaries_pdf.delay_on_commit(ids[start : start + 100])


def _audit_per_order(
    *,
    actor: Actor,
    action: str,
    summary: str,
    changes: dict[int, list[tuple[OrderLine, dict, dict]]],
    orders: dict[int, Order],
) -> None:
    for order_id, items in changes.items():
        order = orders[order_id]
        audit_record(
            actor=actor,
            action=action,
            target=order,
            pharmacy=order.pharmacy,
            summary=f"{summary} ({len(items)} ligne{'s' if len(items) > 1 else ''})",
            before={str(line.pk): before for line, before, _ in items},
            after={str(line.pk): after for line, _, after in items},
        )


# --- Confirm as ordered -------------------------------------------------------------------------------


def lines_confirm_as_ordered(
    *,
    session: OrderSession,
    actor: Actor,
    line_ids: Collection[int] | None = None,
    at: datetime | None = None,
) -> int:
    """Confirm the requested quantity on every line of `session` (or of `line_ids`) that logistics has not
    confirmed yet. Lines already confirmed or reduced are left alone. Returns the number confirmed."""
    at = at or timezone.now()
    _check_session_closed(session, at)
    with transaction.atomic():
        candidates = OrderLine.objects.filter(
            order__session=session, order__status=Order.Status.REGISTERED, quantity_confirmed__isnull=True
        )
        if line_ids is not None:
            candidates = candidates.filter(pk__in=list(line_ids))
        # Lock the unconfirmed lines, in primary-key order so that two bulk confirmations cannot deadlock.
        # On PostgreSQL a line that another transaction confirms or reduces meanwhile is re-checked once
        # its lock is released and drops out (it is no longer NULL): a reduction is never overwritten.
        locked = list(candidates.select_for_update(of=("self",)).order_by("pk").select_related("order__pharmacy"))
        if not locked:
            return 0
        # The conditional UPDATE repeats the condition: on SQLite (no row locks) it is what protects a
        # concurrent reduction.
        updated = OrderLine.objects.filter(pk__in=[line.pk for line in locked], quantity_confirmed__isnull=True).update(
            quantity_confirmed=F("quantity_requested"), reduction_reason="", updated_at=timezone.now()
        )
        changes: dict[int, list] = defaultdict(list)
        for line in locked:
            changes[line.order_id].append((line, {"confirmed": None}, {"confirmed": line.quantity_requested}))
        _audit_per_order(
            actor=actor,
            action="fulfilment.lines_confirmed_as_ordered",
            summary="Quantités confirmées comme commandées",
            changes=changes,
            orders={line.order_id: line.order for line in locked},
        )
        summaries_refresh_on_commit(changes.keys())
    return updated


# --- One line -----------------------------------------------------------------------------------------


def line_confirm(
    *,
    line_id: int,
    quantity: int,
    reason: str,
    actor: Actor,
    at: datetime | None = None,
) -> OrderLine:
    """Set the confirmed quantity of one line (at most the requested one); a reduction needs a reason."""
    at = at or timezone.now()
    reason = (reason or "").strip()
    with transaction.atomic():
        # The row lock serialises this with a bulk confirmation, an allocation or a delivery of the same line.
        line = (
            OrderLine.objects.select_for_update(of=("self",))
            .select_related(
                "order__session",
                "order__pharmacy",
                "product",
                "effector__type",
                "effector__professional",
                "effector__establishment",
            )
            .get(pk=line_id)
        )
        order = line.order
        _check_session_closed(order.session, at)
        if order.status != Order.Status.REGISTERED:
            raise FulfilmentError("order_not_registered")
        if quantity < 0:
            raise FulfilmentError("quantity_negative")
        if quantity > line.quantity_requested:
            raise FulfilmentError("quantity_above_requested", requested=line.quantity_requested)
        if quantity < line.quantity_requested and not reason:
            raise FulfilmentError("reason_required")
        if line.quantity_delivered is not None and quantity < line.quantity_delivered:
            raise FulfilmentError("below_delivered", delivered=line.quantity_delivered)
        before = {"confirmed": line.quantity_confirmed, "reason": line.reduction_reason}
        line.quantity_confirmed = quantity
        line.reduction_reason = reason if quantity < line.quantity_requested else ""
        line.save(update_fields=["quantity_confirmed", "reduction_reason", "updated_at"])
        audit_record(
            actor=actor,
            action="fulfilment.line_reduced" if quantity < line.quantity_requested else "fulfilment.line_confirmed",
            target=order,
            pharmacy=order.pharmacy,
            summary=f"{line.product} pour {line.effector} : {quantity} confirmé(s) sur {line.quantity_requested}"
            + (f" – {line.reduction_reason}" if line.reduction_reason else ""),
            before={str(line.pk): before},
            after={str(line.pk): {"confirmed": quantity, "reason": line.reduction_reason}},
        )
        summaries_refresh_on_commit([order.pk])
    return line


def line_mark_delivered(
    *,
    line_id: int,
    actor: Actor,
    quantity: int | None = None,
) -> OrderLine:
    """Record what was delivered on one line: the confirmed quantity (None) or a part of it."""
    with transaction.atomic():
        line = (
            OrderLine.objects.select_for_update(of=("self",))
            .select_related("order__pharmacy", "product")
            .get(pk=line_id)
        )
        if line.quantity_confirmed is None:
            raise FulfilmentError("not_confirmed")
        quantity = line.quantity_confirmed if quantity is None else quantity
        if quantity < 0:
            raise FulfilmentError("quantity_negative")
        if quantity > line.quantity_confirmed:
            raise FulfilmentError("delivered_above_confirmed", confirmed=line.quantity_confirmed)
        before = line.quantity_delivered
        line.quantity_delivered = quantity
        line.save(update_fields=["quantity_delivered", "updated_at"])
        partial = quantity < line.quantity_confirmed
        audit_record(
            actor=actor,
            action="fulfilment.line_partially_delivered" if partial else "fulfilment.line_delivered",
            target=line.order,
            pharmacy=line.order.pharmacy,
            summary=f"{line.product} : {quantity} livré(s) sur {line.quantity_confirmed} confirmé(s)",
            before={str(line.pk): {"delivered": before}},
            after={str(line.pk): {"delivered": quantity}},
        )
    return line


def lines_mark_delivered(*, line_ids: Collection[int], actor: Actor) -> int:
    """Mark the selected confirmed lines as fully delivered. Returns the number of lines changed."""
    with transaction.atomic():
        locked = list(
            OrderLine.objects.filter(pk__in=list(line_ids), quantity_confirmed__isnull=False)
            .select_for_update(of=("self",))
            .order_by("pk")
            .select_related("order__pharmacy")
        )
        changed = [line for line in locked if line.quantity_delivered != line.quantity_confirmed]
        if not changed:
            return 0
        OrderLine.objects.filter(pk__in=[line.pk for line in changed]).update(
            quantity_delivered=F("quantity_confirmed"), updated_at=timezone.now()
        )
        changes: dict[int, list] = defaultdict(list)
        for line in changed:
            changes[line.order_id].append(
                (line, {"delivered": line.quantity_delivered}, {"delivered": line.quantity_confirmed})
            )
        _audit_per_order(
            actor=actor,
            action="fulfilment.lines_delivered",
            summary="Lignes livrées en totalité",
            changes=changes,
            orders={line.order_id: line.order for line in changed},
        )
    return len(changed)


# --- Allocation of a short stock ------------------------------------------------------------------------


class AllocationMethod:
    PRO_RATA = "pro_rata"
    FIRST_COME = "first_come"
    CHOICES = [
        (PRO_RATA, "Au prorata des demandes (arrondi à la boîte)"),
        (FIRST_COME, "Premier arrivé, premier servi (heure de validation)"),
    ]


@dataclass
class AllocationRow:
    line: OrderLine
    requested: int
    current: int | None
    proposed: int

    @property
    def changes(self) -> bool:
        return self.current != self.proposed

    @property
    def is_reduced(self) -> bool:
        return self.proposed < self.requested


@dataclass
class AllocationPlan:
    session: OrderSession
    product: Product
    method: str
    available: int
    rounding: int
    rows: list[AllocationRow] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def demand(self) -> int:
        return sum(row.requested for row in self.rows)

    @property
    def allocated(self) -> int:
        return sum(row.proposed for row in self.rows)

    @property
    def reduced_count(self) -> int:
        return sum(1 for row in self.rows if row.is_reduced)

    @property
    def reason(self) -> str:
        return PRO_RATA_REASON if self.method == AllocationMethod.PRO_RATA else FIRST_COME_REASON


def _allocation_lines(session: OrderSession, product: Product, *, lock: bool) -> list[OrderLine]:
    lines = OrderLine.objects.filter(
        order__session=session, order__status=Order.Status.REGISTERED, product=product
    ).select_related("order", "order__pharmacy", "effector__type", "effector__professional", "effector__establishment")
    if lock:
        lines = lines.select_for_update(of=("self",))
    return list(lines.order_by("pk"))


def _validation_key(line: OrderLine) -> tuple:
    order = line.order
    return (order.validated_at or order.created_at, order.pk, line.pk)


def _pro_rata(lines: list[OrderLine], available: int, rounding: int) -> dict[int, int]:
    """Largest remainder: each line gets its share rounded down to whole boxes, then the boxes left go, one
    each, to the lines with the largest remainders (the earliest validated first on a tie). Never more
    than requested, never more than available in total."""
    demand = sum(line.quantity_requested for line in lines)
    if demand <= available:
        return {line.pk: line.quantity_requested for line in lines}
    shares: dict[int, int] = {}
    remainders = []
    for line in lines:
        exact = Fraction(line.quantity_requested * available, demand)
        base = int(exact // rounding) * rounding
        shares[line.pk] = base
        remainders.append((-(exact - base), _validation_key(line), line))
    left = available - sum(shares.values())
    for _, _, line in sorted(remainders, key=lambda item: (item[0], item[1])):
        if left < rounding:
            break
        if shares[line.pk] + rounding <= line.quantity_requested:
            shares[line.pk] += rounding
            left -= rounding
    return shares


def _first_come(lines: list[OrderLine], available: int, rounding: int) -> dict[int, int]:
    """In the order of validation: each line in full while the stock lasts; the line where it runs out gets
    the whole boxes left; the following ones get nothing (no remainder is delivered later, seed 003)."""
    shares = {}
    left = available
    for line in sorted(lines, key=_validation_key):
        give = line.quantity_requested if line.quantity_requested <= left else (left // rounding) * rounding
        shares[line.pk] = give
        left -= give
    return shares


def _fingerprint(lines: list[OrderLine], *, method: str, available: int, rounding: int) -> str:
    state = [
        [line.pk, line.quantity_requested, line.quantity_confirmed, line.quantity_delivered, str(_validation_key(line))]
        for line in lines
    ]
    payload = json.dumps([method, available, rounding, state])
    return hashlib.sha256(payload.encode()).hexdigest()


def default_rounding(*, session: OrderSession, product: Product) -> int:
    """Whole boxes: the session's box size for this product, else one unit of order."""
    box = ProductOffer.objects.filter(session=session, product=product).values_list("box_size", flat=True).first()
    return box or 1


def allocation_plan(
    *,
    session: OrderSession,
    product: Product,
    method: str,
    available: int,
    rounding: int,
    _lines: list[OrderLine] | None = None,
) -> AllocationPlan:
    """What an allocation would confirm, line by line, without writing anything (the preview)."""
    if available < 0:
        raise FulfilmentError("allocation_available_negative")
    if rounding < 1:
        raise FulfilmentError("allocation_rounding")
    lines = _lines if _lines is not None else _allocation_lines(session, product, lock=False)
    if not lines:
        raise FulfilmentError("allocation_no_lines")
    if method == AllocationMethod.PRO_RATA:
        shares = _pro_rata(lines, available, rounding)
    elif method == AllocationMethod.FIRST_COME:
        shares = _first_come(lines, available, rounding)
    else:
        raise ValueError(f"unknown allocation method {method!r}")
    rows = [
        AllocationRow(
            line=line, requested=line.quantity_requested, current=line.quantity_confirmed, proposed=shares[line.pk]
        )
        for line in sorted(lines, key=_validation_key)
    ]
    return AllocationPlan(
        session=session,
        product=product,
        method=method,
        available=available,
        rounding=rounding,
        rows=rows,
        fingerprint=_fingerprint(lines, method=method, available=available, rounding=rounding),
    )


def allocation_apply(
    *,
    session: OrderSession,
    product: Product,
    method: str,
    available: int,
    rounding: int,
    fingerprint: str,
    actor: Actor,
    at: datetime | None = None,
) -> AllocationPlan:
    """Apply the allocation previewed with `fingerprint`. Under the locks of every line of the product, the
    plan is computed again; if anything changed since the preview, nothing is written."""
    at = at or timezone.now()
    _check_session_closed(session, at)
    with transaction.atomic():
        lines = _allocation_lines(session, product, lock=True)
        if any(line.quantity_delivered is not None for line in lines):
            raise FulfilmentError("allocation_delivered")
        plan = allocation_plan(
            session=session, product=product, method=method, available=available, rounding=rounding, _lines=lines
        )
        if plan.fingerprint != fingerprint:
            raise FulfilmentError("allocation_stale")
        changed = []
        changes: dict[int, list] = defaultdict(list)
        for row in plan.rows:
            line = row.line
            reason = plan.reason if row.is_reduced else ""
            if line.quantity_confirmed == row.proposed and line.reduction_reason == reason:
                continue
            changes[line.order_id].append(
                (
                    line,
                    {"confirmed": line.quantity_confirmed, "reason": line.reduction_reason},
                    {"confirmed": row.proposed, "reason": reason},
                )
            )
            line.quantity_confirmed = row.proposed
            line.reduction_reason = reason
            line.updated_at = at
            changed.append(line)
        OrderLine.objects.bulk_update(changed, ["quantity_confirmed", "reduction_reason", "updated_at"], batch_size=500)
        label = dict(AllocationMethod.CHOICES)[method]
        _audit_per_order(
            actor=actor,
            action="fulfilment.allocation_applied",
            summary=f"Répartition de {product} ({label}, stock {available})",
            changes=changes,
            orders={line.order_id: line.order for line in changed},
        )
        summaries_refresh_on_commit(changes.keys())
    return plan


def products_over_stock(*, session: OrderSession) -> list[dict]:
    """Per product of the session: demand, what is confirmed so far and the national stock if any, for the
    allocation tool's overview (products whose demand exceeds their stock first)."""
    from django.db.models import Count, Sum

    rows = (
        OrderLine.objects.filter(order__session=session, order__status=Order.Status.REGISTERED)
        .values("product_id", "product__name")
        .annotate(demand=Sum("quantity_requested"), confirmed=Sum("quantity_confirmed"), lines=Count("id"))
        .order_by("product__sort_order", "product__name")
    )
    stocks = dict(ProductOffer.objects.filter(session=session).values_list("product_id", "national_stock"))
    result = []
    for row in rows:
        stock = stocks.get(row["product_id"])
        result.append({**row, "stock": stock, "over": stock is not None and row["demand"] > stock})
    return sorted(result, key=lambda r: not r["over"])


# --- Delivery dates ------------------------------------------------------------------------------------


def delivery_dates_set(
    *,
    session: OrderSession,
    default_date: date | None,
    regional: dict[Region, date | None],
    actor: Actor,
) -> SessionFulfilment:
    """Set the session's delivery date and the regions' own dates (None removes a region's date)."""
    closing_day = timezone.localtime(session.closes_at).date()
    for value in [default_date, *regional.values()]:
        if value is not None and value < closing_day:
            raise FulfilmentError("delivery_date_before_close", closes=f"{closing_day:%d/%m/%Y}")
    with transaction.atomic():
        fulfilment, _ = SessionFulfilment.objects.get_or_create(session=session)
        # Lock the session's record: two agents saving dates at once apply one after the other.
        fulfilment = SessionFulfilment.objects.select_for_update().get(pk=fulfilment.pk)
        before_regional = {
            r.region_id: r.delivery_date.isoformat() for r in RegionalDeliveryDate.objects.filter(fulfilment=fulfilment)
        }
        before = {"date": fulfilment.delivery_date.isoformat() if fulfilment.delivery_date else None}
        fulfilment.delivery_date = default_date
        fulfilment.save(update_fields=["delivery_date", "updated_at"])
        changed_regions: set[int] = set()
        for region, value in regional.items():
            old = before_regional.get(region.pk)
            new = value.isoformat() if value else None
            if old == new:
                continue
            changed_regions.add(region.pk)
            if value is None:
                RegionalDeliveryDate.objects.filter(fulfilment=fulfilment, region=region).delete()
            else:
                RegionalDeliveryDate.objects.update_or_create(
                    fulfilment=fulfilment, region=region, defaults={"delivery_date": value}
                )
        after_regional = {
            r.region_id: r.delivery_date.isoformat() for r in RegionalDeliveryDate.objects.filter(fulfilment=fulfilment)
        }
        default_changed = before["date"] != (default_date.isoformat() if default_date else None)
        if not default_changed and not changed_regions:
            return fulfilment
        audit_record(
            actor=actor,
            action="fulfilment.delivery_dates_set",
            target=session,
            summary=f"Dates de livraison de la session du {session.label_dates}",
            before={**before, "regions": before_regional},
            after={"date": default_date.isoformat() if default_date else None, "regions": after_regional},
        )
        orders = Order.objects.filter(session=session, status=Order.Status.REGISTERED)
        if not default_changed:
            orders = orders.filter(pharmacy__department__region_id__in=changed_regions)
        summaries_refresh_on_commit(orders.values_list("pk", flat=True))
    return fulfilment
