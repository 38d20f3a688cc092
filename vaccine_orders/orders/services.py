"""Registering, modifying and cancelling orders.

Every write follows the same shape (STYLE.md §9): check the window → one transaction → lock the officine's
row (all writes of one officine's orders queue behind it: two tabs, a double click) → re-check the version and
the caps → write the order and its lines → audit → take national stock with conditional updates (never
oversold, whatever the concurrency) → after commit, wake the receipt sender (the receipt itself is pending on the
order row). A refusal decided before the first write is returned from the locked part and raised after its
transaction committed (it wrote nothing); only a refusal after the writes (the national stock) rolls back.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.models import Pharmacy
from sessions_calendar.models import OrderSession, ProductOffer
from sessions_calendar.selectors import pharmacy_may_order_in_session
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record
from vaccine_orders.portal.selectors import ServiceSwitches, service_switches
from vaccine_orders.precompiled import PrecompiledInsert, PrecompiledQuery, PrecompiledUpdate

from .caps import RANK_LABELS, CellKey, check_quantities, stock_message
from .emails import send_receipt
from .models import Order, OrderLine
from .selectors import UNIT_WORDS, OrderGrid, order_grid

logger = logging.getLogger(__name__)

# Only the concurrency control test turns this off, to show the oversell the conditional update prevents.
STOCK_LOCKING = True
UNSAFE_STOCK_SLEEP_SECONDS = 0.05

ERRORS = {
    "closed": "La session de commande est fermée depuis le {closed} : votre commande n'a pas été modifiée.",
    "not_open_yet": "La session de commande ouvrira le {opens} : il n'est pas encore possible de commander.",
    "closed_week": "Le portail de commande est fermé cette semaine (calendrier d'ouverture).",
    "pilot": "Cette session est réservée aux officines pilotes.",
    "read_only": "{message}",
    "conflict": (
        "Votre commande a été modifiée entre-temps (depuis un autre onglet ou par un autre titulaire) : "
        "voici la commande enregistrée. Votre saisie n'a pas été appliquée ; vous pouvez la reprendre."
    ),
    "empty": "Votre commande est vide : saisissez au moins une quantité.",
    "empty_existing": "Pour retirer toutes les lignes, utilisez « Annuler la commande ».",
    "invalid": "La commande n'a pas été enregistrée : corrigez les quantités signalées.",
    "not_registered": "Il n'y a pas de commande enregistrée à annuler pour cette session.",
}


class OrderError(Exception):
    """A refusal with a French message for the user; nothing was written."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field_errors: dict[str, list[str]] | None = None,
        errors: list[str] | None = None,
        order: Order | None = None,
        grid: OrderGrid | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field_errors = field_errors or {}
        self.errors = errors or []
        self.order = order
        # The grid the refusal was decided on, when it was read: nothing was written, so the page that shows
        # the refusal can show this grid instead of reading it again.
        self.grid = grid


@dataclass(frozen=True)
class SubmitResult:
    order: Order
    created: bool
    duplicate: bool  # the same submission arrived twice (double click, resent form): nothing new


def _local(instant: datetime) -> str:
    return timezone.localtime(instant).strftime("%d/%m/%Y à %H:%M")


def check_window(
    *, session: OrderSession, pharmacy: Pharmacy, at: datetime, switches: ServiceSwitches | None = None
) -> None:
    """Refuse with the reason when the officine cannot change orders of `session` at `at` (to the second).
    `switches`: the service switches when the caller has just read them (the access decorator has)."""
    if session.is_closed_week:
        raise OrderError("closed_week", ERRORS["closed_week"])
    if at < session.opens_at:
        raise OrderError("not_open_yet", ERRORS["not_open_yet"].format(opens=_local(session.opens_at)))
    if at >= session.closes_at:
        raise OrderError("closed", ERRORS["closed"].format(closed=_local(session.closes_at)))
    # One rule for pilot-only sessions and for the whole service restricted to a pilot group.
    if switches is None:
        switches = service_switches()  # one read of the row for the pilot restriction and the read-only mode
    if not pharmacy_may_order_in_session(pharmacy=pharmacy, session=session, switches=switches):
        raise OrderError("pilot", ERRORS["pilot"])
    if switches.read_only_message is not None:
        raise OrderError("read_only", switches.read_only_message)


def new_reference(*, session: OrderSession) -> str:
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out on the phone to support
    suffix = "".join(secrets.choice(alphabet) for _ in range(6))
    return f"C{timezone.localtime(session.opens_at):%y%m%d}-{suffix}"


def new_submission_token() -> str:
    return secrets.token_urlsafe(18)


# The order's id is read by its own statement after the lock, not joined to the locking one: a statement's
# snapshot is taken before it waits for the lock, so a joined read would miss the order that another tab has
# just committed (two tabs, a double click) and this one would try to create a second order.
_ORDER_ID = PrecompiledQuery(
    lambda pharmacy_id, session_id: (
        Order.objects.filter(pharmacy=pharmacy_id, session=session_id).order_by().values_list("pk")
    ),
    "pharmacy_id",
    "session_id",
)
# Written by "Valider" under the opening rush: the ORM's create() and bulk_create() cost more CPU than the rest of the
# transaction (precompiled.py).
_ORDER_INSERT = PrecompiledInsert(Order)
_LINES_INSERT = PrecompiledInsert(OrderLine)
_PHARMACY_LOCK = PrecompiledQuery(
    lambda pharmacy_id: Pharmacy.objects.select_for_update().filter(pk=pharmacy_id).order_by().values_list("pk"),
    "pharmacy_id",
)


def _lock_pharmacy(pharmacy: Pharmacy) -> None:
    # Serialises every write to this officine's orders (two tabs, two titulaires, a double click): the
    # version check and the idempotency check below are then reliable.
    _PHARMACY_LOCK.rows(pharmacy_id=pharmacy.pk)


def _describe(grid: OrderGrid, key: CellKey, quantity: int) -> dict:
    product = grid.product(key.product_id)
    effector = grid.effectors.get(key.effector_id)
    return {
        "effector_id": key.effector_id,
        "effector": effector.display_name if effector else f"Effecteur n° {key.effector_id}",
        "product_id": key.product_id,
        "product": product.short_name if product else f"Produit n° {key.product_id}",
        "rank": key.rank,
        "quantity": quantity,
        "unit": UNIT_WORDS[product.unit][1] if product else "",
    }


def _snapshot(grid: OrderGrid, quantities: Mapping[CellKey, int]) -> list[dict]:
    return [_describe(grid, key, q) for key, q in sorted(quantities.items()) if q > 0]


# Conditional UPDATE: PostgreSQL locks the row and re-evaluates the condition on the latest version once any
# concurrent writer commits, so two officines can never both take the last boxes. Compiled once per process: every
# validation of a first-come-first-served product runs it (building it was a tenth of such a validation).
_STOCK_TAKE = PrecompiledUpdate(
    lambda offer_id, delta: (
        ProductOffer.objects.filter(pk=offer_id, stock_taken__lte=F("national_stock") - delta),
        {"stock_taken": F("stock_taken") + delta},
    ),
    "offer_id",
    "delta",
)


def _take_stock(*, offer: ProductOffer, delta: int, grid: OrderGrid, wanted: int) -> None:
    """Move `delta` units of the national stock to (delta > 0) or back from (delta < 0) this order."""
    if delta <= 0:
        ProductOffer.objects.filter(pk=offer.pk).update(stock_taken=F("stock_taken") + delta)
        return
    if STOCK_LOCKING:
        taken = _STOCK_TAKE.run(offer_id=offer.pk, delta=delta)
    else:  # pragma: no cover - only the control test runs this, to prove the race exists
        current = ProductOffer.objects.values_list("stock_taken", "national_stock").get(pk=offer.pk)
        time.sleep(UNSAFE_STOCK_SLEEP_SECONDS)
        taken = 0
        if current[0] + delta <= current[1]:
            taken = ProductOffer.objects.filter(pk=offer.pk).update(stock_taken=current[0] + delta)
    if not taken:
        remaining = ProductOffer.objects.filter(pk=offer.pk).values_list("national_stock", "stock_taken").get()
        held = wanted - delta
        raise OrderError(
            "stock",
            stock_message(
                labels=grid.labels,
                product_id=offer.product_id,
                available=remaining[0] - remaining[1] + held,
                wanted=wanted,
            ),
        )


def order_submit(
    *,
    pharmacy: Pharmacy,
    session: OrderSession,
    quantities: Mapping[CellKey, int],
    base_version: int,
    submission_token: str,
    actor: Actor,
    now: datetime | None = None,
    switches: ServiceSwitches | None = None,
) -> SubmitResult:
    """Register the officine's order for `session` with exactly `quantities` (cells with a quantity > 0).

    Refuses (OrderError, nothing written) when the window is closed, the order changed since
    `base_version` was read, a cap or box rule is broken, or the national stock is exhausted. The same
    `submission_token` arriving twice registers one version only.
    """
    now = now or timezone.now()
    check_window(session=session, pharmacy=pharmacy, at=now, switches=switches)
    with transaction.atomic():
        outcome = _submit_locked(
            pharmacy=pharmacy,
            session=session,
            quantities=quantities,
            base_version=base_version,
            submission_token=submission_token,
            actor=actor,
            now=now,
        )
    # A refusal returned (not raised) was decided before anything was written: the transaction above held only
    # the officine's lock and ended with a COMMIT. A ROLLBACK would have made psycopg forget every statement it
    # had prepared on this connection (it discards them all on ROLLBACK), and under the opening rush, where the
    # national stock refuses four requests in ten, the connection then parsed and planned its statements again.
    if isinstance(outcome, OrderError):
        raise outcome
    return outcome


def _submit_locked(
    *,
    pharmacy: Pharmacy,
    session: OrderSession,
    quantities: Mapping[CellKey, int],
    base_version: int,
    submission_token: str,
    actor: Actor,
    now: datetime,
) -> SubmitResult | OrderError:
    """order_submit inside its transaction. Returns a refusal decided before the first write; raises one that
    comes after (the national stock), so that the transaction is rolled back and nothing stays written."""
    _lock_pharmacy(pharmacy)
    found = _ORDER_ID.rows(pharmacy_id=pharmacy.pk, session_id=session.pk)
    order = Order.objects.get(pk=found[0][0]) if found else None

    if order is not None and submission_token and order.submission_token == submission_token:
        return SubmitResult(order=order, created=False, duplicate=True)
    current_version = order.version if order else 0
    if base_version != current_version:
        return OrderError("conflict", ERRORS["conflict"], order=order)

    grid = order_grid(pharmacy=pharmacy, session=session, order=order)
    positive = {key: q for key, q in quantities.items() if q != 0}
    if not positive:
        code = "empty_existing" if grid.has_registered_order else "empty"
        return OrderError(code, ERRORS[code], grid=grid)
    result = check_quantities(cells=grid.cells, quantities=positive, stocks=grid.stocks, labels=grid.labels)
    if not result.ok:
        return OrderError(
            "invalid", ERRORS["invalid"], field_errors=result.field_errors, errors=result.errors, grid=grid
        )

    # National stock: what this order takes in addition to (or gives back from) what it already held.
    offers = {block.product.pk: block.offer for block in grid.blocks if block.offer.national_stock is not None}
    new_totals: dict[int, int] = defaultdict(int)
    old_totals: dict[int, int] = defaultdict(int)
    for key, q in positive.items():
        new_totals[key.product_id] += q
    for key, q in grid.current.items():
        old_totals[key.product_id] += q
    stock_moves = [
        (offers[product_id], new_totals[product_id] - old_totals[product_id], new_totals[product_id])
        for product_id in sorted(offers, key=lambda pid: offers[pid].pk)  # fixed order: no deadlock
        if new_totals[product_id] != old_totals[product_id]
    ]

    created = order is None
    before = _snapshot(grid, grid.current) if order and order.status == Order.Status.REGISTERED else []
    if order is None:
        order = _ORDER_INSERT.create(
            {
                "reference": new_reference(session=session),
                "pharmacy_id": pharmacy.pk,
                "session_id": session.pk,
                "validated_at": now,
                "created_by_id": actor.user.pk if actor.user is not None else None,
                "created_by_label": actor.label[:255],
                "updated_by_label": actor.label[:255],
                "submission_token": submission_token,
            }
        )
    else:
        if order.status == Order.Status.CANCELLED:
            created = True
        order.status = Order.Status.REGISTERED
        order.cancelled_at = None
        order.version += 1
        order.validated_at = now
        order.updated_by_label = actor.label[:255]
        order.submission_token = submission_token
        order.save(
            update_fields=[
                "status",
                "cancelled_at",
                "version",
                "validated_at",
                "updated_by_label",
                "submission_token",
                "updated_at",
            ]
        )

    _write_lines(order=order, current=grid.current, wanted=positive, new=created and not grid.current)
    after = _snapshot(grid, positive)
    audit_record(
        actor=actor,
        action="order.created" if created else "order.modified",
        target=order,
        pharmacy=pharmacy,
        summary=_summary(created=created, before=before, after=after),
        before={"version": current_version, "lines": before},
        after={"version": order.version, "lines": after},
    )
    # The stock last, just before the commit: every officine ordering the product queues on its offer row,
    # so the row lock is held for this UPDATE and the commit only, not for the writes above. A refusal
    # raises and the whole transaction, order and lines included, is rolled back.
    for offer, delta, wanted in stock_moves:
        _take_stock(offer=offer, delta=delta, grid=grid, wanted=wanted)
    transaction.on_commit(receipts_wake)  # the receipt is in the outbox: the order row itself
    return SubmitResult(order=order, created=created, duplicate=False)


def _write_lines(
    *, order: Order, current: Mapping[CellKey, int], wanted: Mapping[CellKey, int], new: bool = False
) -> None:
    """Bring the order's lines from `current` to `wanted` in at most four queries, whatever their number.
    `new`: the order has no line yet (just created), so there is nothing to read first."""
    existing = (
        {}
        if new
        else {
            CellKey(e, p, r): pk
            for pk, e, p, r in OrderLine.objects.filter(order=order).values_list(
                "pk", "effector_id", "product_id", "injection_rank"
            )
        }
    )
    to_delete = [pk for key, pk in existing.items() if key not in wanted]
    to_update = [
        OrderLine(pk=existing[key], quantity_requested=q)
        for key, q in wanted.items()
        if key in existing and current.get(key) != q
    ]
    to_create = [
        {
            "order_id": order.pk,
            "effector_id": key.effector_id,
            "product_id": key.product_id,
            "injection_rank": key.rank,
            "quantity_requested": q,
        }
        for key, q in wanted.items()
        if key not in existing
    ]
    if to_delete:
        OrderLine.objects.filter(pk__in=to_delete).delete()
    if to_update:
        OrderLine.objects.bulk_update(to_update, ["quantity_requested"])
    _LINES_INSERT.insert_many(to_create)


def _summary(*, created: bool, before: list[dict], after: list[dict]) -> str:
    total = sum(line["quantity"] for line in after)
    if created:
        return f"Commande enregistrée : {len(after)} ligne(s), {total} unité(s) au total."
    changes = len(diff_lines(before, after))
    return f"Commande modifiée : {changes} ligne(s) changée(s), {total} unité(s) au total."


def diff_lines(before: list[dict], after: list[dict]) -> list[dict]:
    """What changed between two snapshots: one entry per line added, changed or removed."""

    def key(line: dict) -> tuple:
        return (line["effector_id"], line["product_id"], line["rank"])

    old = {key(line): line for line in before}
    new = {key(line): line for line in after}
    changes = []
    for k in sorted(old.keys() | new.keys()):
        was = old.get(k, {}).get("quantity", 0)
        now = new.get(k, {}).get("quantity", 0)
        if was != now:
            line = new.get(k) or old[k]
            changes.append(
                {
                    "effector": line["effector"],
                    "product": line["product"] + RANK_LABELS.get(line["rank"], ""),
                    "unit": line.get("unit", ""),
                    "before": was,
                    "after": now,
                }
            )
    return changes


def order_cancel(
    *,
    order: Order,
    base_version: int,
    actor: Actor,
    now: datetime | None = None,
    switches: ServiceSwitches | None = None,
) -> Order:
    """Cancel a registered order: its lines go, its national stock is given back, the row stays."""
    now = now or timezone.now()
    check_window(session=order.session, pharmacy=order.pharmacy, at=now, switches=switches)
    with transaction.atomic():
        outcome = _cancel_locked(order=order, base_version=base_version, actor=actor, now=now)
    if isinstance(outcome, OrderError):  # decided before any write: committed, as in order_submit
        raise outcome
    return outcome


def _cancel_locked(*, order: Order, base_version: int, actor: Actor, now: datetime) -> Order | OrderError:
    session = order.session
    _lock_pharmacy(order.pharmacy)
    order = Order.objects.get(pk=order.pk)
    if order.status != Order.Status.REGISTERED:
        return OrderError("not_registered", ERRORS["not_registered"], order=order)
    if order.version != base_version:
        return OrderError("conflict", ERRORS["conflict"], order=order)
    grid = order_grid(pharmacy=order.pharmacy, session=session, order=order)
    held: dict[int, int] = defaultdict(int)
    for key, q in grid.current.items():
        held[key.product_id] += q
    for offer in sorted((b.offer for b in grid.blocks if b.offer.national_stock is not None), key=lambda o: o.pk):
        if held.get(offer.product_id):
            ProductOffer.objects.filter(pk=offer.pk).update(stock_taken=F("stock_taken") - held[offer.product_id])
    before = _snapshot(grid, grid.current)
    OrderLine.objects.filter(order=order).delete()
    order.status = Order.Status.CANCELLED
    order.cancelled_at = now
    order.version += 1
    order.updated_by_label = actor.label[:255]
    order.submission_token = ""
    order.save(
        update_fields=["status", "cancelled_at", "version", "updated_by_label", "submission_token", "updated_at"]
    )
    audit_record(
        actor=actor,
        action="order.cancelled",
        target=order,
        pharmacy=order.pharmacy,
        summary="Commande annulée.",
        before={"version": base_version, "lines": before},
        after={"version": order.version, "lines": []},
    )
    transaction.on_commit(receipts_wake)
    return order


# --- receipts: the outbox is the order row (receipt_version < version) ------------------------------------

RECEIPT_WAKE_INTERVAL_SECONDS = 1.0
_last_wake = float("-inf")


def receipts_wake() -> None:
    """After an order's commit: have the receipt sender run soon. Under the opening rush this is one broker
    message per second and per process instead of one per order (the publish was an eighth of a validation's
    instructions, counted with callgrind). Never fails the request: a receipt left by a lost or skipped wake-up
    goes with the next one, or with the sweep every minute."""
    global _last_wake
    from .tasks import send_pending_receipts

    eager = send_pending_receipts.app.conf.task_always_eager  # the demo and the tests that run tasks: at once
    moment = time.monotonic()
    if not eager and moment - _last_wake < RECEIPT_WAKE_INTERVAL_SECONDS:
        return
    _last_wake = moment
    try:
        send_pending_receipts.delay()
    except (KombuOperationalError, OSError):
        if eager:
            raise
        logger.warning("receipt sender not woken (broker unreachable): the sweep will send the receipt", exc_info=True)


def receipts_send_pending(*, batch_size: int = 50) -> int:
    """Send the receipts of the orders changed since their last receipt; return how many went out.

    Each batch is claimed in a short transaction (rows another sender holds are skipped), then sent over one
    SMTP connection, each row recording the version it described. A send that fails keeps its claim and is
    taken again after ORDERS_RECEIPT_RETRY_SECONDS, as is the batch of a sender that died: at least once.
    An order changed again meanwhile stays pending and gets a receipt for its new version.
    """
    retry = timedelta(seconds=settings.ORDERS_RECEIPT_RETRY_SECONDS)
    sent = 0
    while True:
        claimed_at = timezone.now()
        with transaction.atomic():
            claimed = list(
                Order.objects.select_for_update(skip_locked=True)
                .filter(receipt_version__lt=F("version"))
                .filter(Q(receipt_claimed_at__isnull=True) | Q(receipt_claimed_at__lt=claimed_at - retry))
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not claimed:
                return sent
            Order.objects.filter(pk__in=claimed).update(receipt_claimed_at=claimed_at)
        orders = Order.objects.select_related("pharmacy", "session").filter(pk__in=claimed).order_by("pk")
        try:
            with get_connection() as smtp:
                for order in orders:
                    try:
                        went_out = send_receipt(order=order, connection=smtp)  # False: no address, nothing to retry
                    except smtplib.SMTPRecipientsRefused as exc:
                        if any(code < 500 for code, _ in exc.recipients.values()):
                            logger.warning("receipt of order %s deferred: retried later", order.reference)
                            continue  # a 4xx refusal is temporary: keeps its claim, taken again after the delay
                        # A 5xx refusal is final (unknown mailbox): retrying would fail the same way forever.
                        logger.error("receipt of order %s refused for good by the relay", order.reference)
                        went_out = False
                    except (smtplib.SMTPException, OSError):
                        logger.warning("receipt of order %s not sent: retried later", order.reference, exc_info=True)
                        continue  # keeps its claim: taken again after the retry delay
                    Order.objects.filter(pk=order.pk, receipt_claimed_at=claimed_at).update(
                        receipt_version=order.version, receipt_claimed_at=None
                    )
                    sent += went_out
        except (smtplib.SMTPException, OSError):  # the relay is unreachable: leave the batch to the next sweep
            logger.warning("receipts not sent: the mail relay is unreachable", exc_info=True)
            Order.objects.filter(pk__in=claimed, receipt_claimed_at=claimed_at).update(receipt_claimed_at=None)
            return sent
