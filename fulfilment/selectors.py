"""Reading confirmations: when they become visible, the delivery date of an officine, the follow-up of an
order (the page, the PDF and the e-mails all read the same data from here).

Nothing confirmed leaves this module before the session's publication instant unless the caller asks
for it explicitly with `reveal=True` (the PDF renderer, which stores files that are served only after
publication, and the mailing, which only runs on published sessions).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from accounts.models import Department, Pharmacy
from effectors.models import Effector
from sessions_calendar.models import OrderSession
from vaccine_orders.orders.models import Order, OrderLine, Product

from .models import RegionalDeliveryDate, SessionFulfilment

PARIS = ZoneInfo(settings.TIME_ZONE)
# "à partir du jour suivant la fermeture de la session de commande (soit habituellement le mercredi à
# partir de 18h)" (seed 001): the default when a session has no explicit publication instant.
DEFAULT_PUBLICATION_TIME = time(18, 0)

UNIT_PLURALS = {Product.Unit.VIAL: "flacons", Product.Unit.BOX: "boîtes", Product.Unit.UNIT: "unités"}
RANK_LABELS = {0: "", 1: "1re injection", 2: "2nde injection"}


# --- Publication ------------------------------------------------------------------------------------


def publication_instant(*, session: OrderSession) -> datetime:
    """When the confirmations of `session` become visible: its own instant, or 18:00 (Paris) on the day
    after it closes."""
    if session.confirmation_published_at is not None:
        return session.confirmation_published_at
    closing_day = timezone.localtime(session.closes_at, PARIS).date()
    return datetime.combine(closing_day + timedelta(days=1), DEFAULT_PUBLICATION_TIME, tzinfo=PARIS)


def confirmations_visible(*, session: OrderSession, at: datetime) -> bool:
    return at >= publication_instant(session=session)


def sessions_due_for_publication(*, at: datetime, horizon_days: int = 30) -> list[OrderSession]:
    """Sessions whose publication instant has passed (within `horizon_days`) and whose publication side
    effects (PDF pre-rendering) have not run yet."""
    candidates = OrderSession.objects.filter(
        is_closed_week=False,
        closes_at__lte=at,
        closes_at__gte=at - timedelta(days=horizon_days),
    ).exclude(fulfilment__published_at__isnull=False)
    return [s for s in candidates.order_by("closes_at") if confirmations_visible(session=s, at=at)]


def sessions_due_for_mailing(*, at: datetime, window_days: int = 7) -> list[OrderSession]:
    """Sessions published during the last `window_days` whose Friday mailing has not been prepared.

    The window keeps a first deployment (or a restored database) from mailing about old sessions."""
    candidates = OrderSession.objects.filter(
        is_closed_week=False,
        closes_at__lte=at,
        closes_at__gte=at - timedelta(days=window_days + 7),
    ).exclude(fulfilment__mailing_prepared_at__isnull=False)
    return [
        s
        for s in candidates.order_by("closes_at")
        if at - timedelta(days=window_days) < publication_instant(session=s) <= at
    ]


# --- Delivery dates ---------------------------------------------------------------------------------


def delivery_dates_for_sessions(*, sessions: Iterable[OrderSession], region_id: int | None) -> dict[int, date | None]:
    """The delivery date of each session for the officines of `region_id`: the region's own date, else the
    session's date set by logistics, else the end of the calendar's indicative window ("au plus tard")."""
    sessions = list(sessions)
    ids = [s.pk for s in sessions]
    session_dates = dict(
        SessionFulfilment.objects.filter(session_id__in=ids, delivery_date__isnull=False).values_list(
            "session_id", "delivery_date"
        )
    )
    regional = {}
    if region_id is not None:
        regional = dict(
            RegionalDeliveryDate.objects.filter(fulfilment__session_id__in=ids, region_id=region_id).values_list(
                "fulfilment__session_id", "delivery_date"
            )
        )
    return {s.pk: regional.get(s.pk) or session_dates.get(s.pk) or s.delivery_end for s in sessions}


def delivery_date_for(*, session: OrderSession, region_id: int | None) -> date | None:
    return delivery_dates_for_sessions(sessions=[session], region_id=region_id)[session.pk]


def region_id_of(pharmacy: Pharmacy) -> int | None:
    if Pharmacy._meta.get_field("department").is_cached(pharmacy):
        return pharmacy.department.region_id
    return Department.objects.filter(pk=pharmacy.department_id).values_list("region_id", flat=True).first()


# --- The follow-up of an order ------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUpLine:
    id: int
    effector_type_code: str
    effector_type_label: str
    effector_group_label: str
    effector_sort: tuple
    effector_name: str
    effector_identifier: str
    professional_id: int | None
    product_id: int
    product_name: str
    product_sort: tuple
    injection_rank: int
    unit_label: str
    requested: int
    confirmed: int | None
    reason: str
    delivered: int | None

    @property
    def rank_label(self) -> str:
        return RANK_LABELS.get(self.injection_rank, "")

    @property
    def is_reduced(self) -> bool:
        return self.confirmed is not None and self.confirmed < self.requested

    @property
    def is_pending(self) -> bool:
        return self.confirmed is None


@dataclass
class ProductTotal:
    product_id: int
    name: str
    unit_label: str
    storage_rule: str
    requested: int = 0
    confirmed: int = 0
    delivered: int = 0
    pending_lines: int = 0
    doses_confirmed: int | None = None


@dataclass
class EffectorGroup:
    label: str
    lines: list[FollowUpLine] = field(default_factory=list)


@dataclass
class OrderFollowUp:
    order: Order
    session: OrderSession
    pharmacy: Pharmacy
    at: datetime
    visible: bool
    publication_at: datetime
    delivery_date: date | None
    lines: list[FollowUpLine]
    groups: list[EffectorGroup]
    products: list[ProductTotal]

    @property
    def is_closed(self) -> bool:
        return self.at >= self.session.closes_at

    @property
    def appointments_from(self) -> date | None:
        """Vaccination appointments may be booked from the day after the delivery date (seeds 002, 003)."""
        return self.delivery_date + timedelta(days=1) if self.delivery_date else None

    @property
    def has_pending_lines(self) -> bool:
        return any(line.is_pending for line in self.lines)

    @property
    def has_reductions(self) -> bool:
        return any(line.is_reduced for line in self.lines)

    @property
    def status(self) -> tuple[str, str]:
        """(label, DSFR badge modifier)."""
        return follow_up_status(
            closed=self.is_closed,
            visible=self.visible,
            deliverable=sum(1 for line in self.lines if (line.confirmed or 0) > 0),
            delivered=sum(1 for line in self.lines if (line.confirmed or 0) > 0 and line.delivered is not None),
            fully_delivered=sum(
                1
                for line in self.lines
                if (line.confirmed or 0) > 0 and line.delivered is not None and line.delivered >= line.confirmed
            ),
        )

    def document(self) -> dict:
        """The data the PDF shows, as plain JSON-able values: its hash decides whether to render again."""
        pharmacy = self.pharmacy
        return {
            "pharmacy": {
                "name": pharmacy.name,
                "finess": pharmacy.finess,
                "address": pharmacy.address,
                "postal_code": pharmacy.postal_code,
                "city": pharmacy.city,
            },
            "order": self.order.reference,
            "session": {"id": self.session.pk, "label": self.session.label_dates},
            "delivery_date": self.delivery_date.isoformat() if self.delivery_date else None,
            "lines": [
                {k: v for k, v in asdict(line).items() if k not in {"delivered", "effector_sort", "product_sort"}}
                for line in self.lines
            ],
            "products": [{k: v for k, v in asdict(product).items() if k != "delivered"} for product in self.products],
        }


def follow_up_status(
    *, closed: bool, visible: bool, deliverable: int, delivered: int, fully_delivered: int
) -> tuple[str, str]:
    if not closed:
        return "Commande enregistrée", "info"
    if not visible:
        return "En cours de traitement", "new"
    if deliverable and fully_delivered == deliverable:
        return "Livrée", "success"
    if delivered:
        return "Partiellement livrée", "warning"
    return "Confirmée", "success"


def _effector_name(effector: Effector) -> str:
    if effector.professional_id:
        professional = effector.professional
        return f"{professional.first_name} {professional.last_name}".strip()
    if effector.establishment_id:
        return effector.establishment.name
    if effector.type.kind == "aggregate":
        return f"{effector.type.label_plural} (total)"
    return "Officine (pour elle-même)"


def _lines_queryset(order_ids: Iterable[int]) -> QuerySet[OrderLine]:
    return OrderLine.objects.filter(order_id__in=list(order_ids)).select_related(
        "product", "effector__type", "effector__professional", "effector__establishment"
    )


def _follow_up_line(line: OrderLine, *, reveal: bool) -> FollowUpLine:
    effector = line.effector
    product = line.product
    name = _effector_name(effector)
    return FollowUpLine(
        id=line.pk,
        effector_type_code=effector.type.code,
        effector_type_label=effector.type.label,
        effector_group_label=effector.type.label_plural,
        effector_sort=(effector.type.sort_order, effector.type.label, name.lower(), effector.pk),
        effector_name=name,
        effector_identifier=effector.identifier,
        professional_id=effector.professional_id,
        product_id=product.pk,
        product_name=product.name,
        product_sort=(product.sort_order, product.name, product.pk),
        injection_rank=line.injection_rank,
        unit_label=UNIT_PLURALS.get(product.unit, product.get_unit_display()),
        requested=line.quantity_requested,
        confirmed=line.quantity_confirmed if reveal else None,
        reason=line.reduction_reason if reveal else "",
        delivered=line.quantity_delivered if reveal else None,
    )


def _assemble(
    *, order: Order, lines: list[OrderLine], at: datetime, reveal: bool, delivery_date: date | None, products: dict
) -> OrderFollowUp:
    session = order.session
    visible = confirmations_visible(session=session, at=at)
    show = visible or reveal
    follow_lines = sorted(
        (_follow_up_line(line, reveal=show) for line in lines),
        key=lambda fl: (fl.effector_sort, fl.product_sort, fl.injection_rank),
    )
    groups: list[EffectorGroup] = []
    for line in follow_lines:
        if not groups or groups[-1].label != line.effector_group_label:
            groups.append(EffectorGroup(label=line.effector_group_label))
        groups[-1].lines.append(line)
    totals: dict[int, ProductTotal] = {}
    for line in sorted(follow_lines, key=lambda fl: fl.product_sort):
        product = products[line.product_id]
        total = totals.setdefault(
            line.product_id,
            ProductTotal(
                product_id=line.product_id,
                name=line.product_name,
                unit_label=line.unit_label,
                storage_rule=product.storage_rule,
            ),
        )
        total.requested += line.requested
        if line.confirmed is None:
            total.pending_lines += 1
        else:
            total.confirmed += line.confirmed
        total.delivered += line.delivered or 0
    for total in totals.values():
        total.doses_confirmed = products[total.product_id].doses(total.confirmed) if show else None
    return OrderFollowUp(
        order=order,
        session=session,
        pharmacy=order.pharmacy,
        at=at,
        visible=visible,
        publication_at=publication_instant(session=session),
        delivery_date=delivery_date if show else None,
        lines=follow_lines,
        groups=groups,
        products=list(totals.values()),
    )


def order_follow_ups(*, orders: list[Order], at: datetime, reveal: bool = False) -> dict[int, OrderFollowUp]:
    """The follow-ups of many orders (by order id) in three queries whatever their number: the mailing
    writes a batch of messages from them. Orders need `session` and `pharmacy__department` loaded."""
    lines_by_order: dict[int, list[OrderLine]] = {order.pk: [] for order in orders}
    for line in _lines_queryset(lines_by_order):
        lines_by_order[line.order_id].append(line)
    products = {line.product_id: line.product for lines in lines_by_order.values() for line in lines}
    dates: dict[tuple[int, int | None], date | None] = {}
    follow_ups = {}
    for order in orders:
        region_id = region_id_of(order.pharmacy)
        key = (order.session_id, region_id)
        if key not in dates and (reveal or confirmations_visible(session=order.session, at=at)):
            dates[key] = delivery_date_for(session=order.session, region_id=region_id)
        follow_ups[order.pk] = _assemble(
            order=order,
            lines=lines_by_order[order.pk],
            at=at,
            reveal=reveal,
            delivery_date=dates.get(key),
            products=products,
        )
    return follow_ups


def order_follow_up(*, order: Order, at: datetime, reveal: bool = False) -> OrderFollowUp:
    """The follow-up of one order. Before the publication instant, confirmed quantities, reasons,
    deliveries and the delivery date are withheld (None), unless `reveal`."""
    return order_follow_ups(orders=[order], at=at, reveal=reveal)[order.pk]


def order_for_pharmacy(*, pharmacy: Pharmacy, reference: str) -> Order | None:
    """The registered order `reference` if it belongs to `pharmacy` (None otherwise: the view answers 404)."""
    return (
        Order.objects.filter(pharmacy=pharmacy, reference=reference, status=Order.Status.REGISTERED)
        .select_related("session", "pharmacy__department")
        .first()
    )


@dataclass(frozen=True)
class FollowUpRow:
    order: Order
    status: tuple[str, str]
    visible: bool
    delivery_date: date | None
    publication_at: datetime


def follow_up_list(*, pharmacy: Pharmacy, at: datetime) -> list[FollowUpRow]:
    """The officine's registered orders, newest session first, with their follow-up state. Three queries
    whatever the number of orders."""
    orders = list(
        Order.objects.filter(pharmacy=pharmacy, status=Order.Status.REGISTERED)
        .select_related("session")
        .annotate(
            deliverable=Count("lines", filter=Q(lines__quantity_confirmed__gt=0)),
            delivered=Count(
                "lines", filter=Q(lines__quantity_confirmed__gt=0, lines__quantity_delivered__isnull=False)
            ),
            fully_delivered=Count(
                "lines",
                filter=Q(
                    lines__quantity_confirmed__gt=0, lines__quantity_delivered__gte=F("lines__quantity_confirmed")
                ),
            ),
        )
        .order_by("-session__opens_at")
    )
    dates = delivery_dates_for_sessions(sessions=[o.session for o in orders], region_id=region_id_of(pharmacy))
    rows = []
    for order in orders:
        visible = confirmations_visible(session=order.session, at=at)
        status = follow_up_status(
            closed=at >= order.session.closes_at,
            visible=visible,
            deliverable=order.deliverable if visible else 0,
            delivered=order.delivered if visible else 0,
            fully_delivered=order.fully_delivered if visible else 0,
        )
        rows.append(
            FollowUpRow(
                order=order,
                status=status,
                visible=visible,
                delivery_date=dates[order.session_id] if visible else None,
                publication_at=publication_instant(session=order.session),
            )
        )
    return rows


# --- The PDF's identity -------------------------------------------------------------------------------

# Bump when the template or its stylesheet changes in a way that must reach stored PDFs.
SUMMARY_LAYOUT_VERSION = "1"


def summary_content_hash(follow_up: OrderFollowUp) -> str:
    payload = json.dumps(follow_up.document(), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{SUMMARY_LAYOUT_VERSION}\n{payload}".encode()).hexdigest()
