"""Reading orders: the order grid of an officine for a session, its orders, its history.

The grid is built in a fixed number of queries whatever the number of effectors (tested with 5 and 300).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q, QuerySet

from accounts.models import Pharmacy
from effectors.models import Effector, EffectorType, effector_display_name, effector_identifier
from sessions_calendar.models import OrderSession, ProductOffer
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.precompiled import PrecompiledQuery

from .caps import CellKey, CellSpec, Labels, Rule, StockSpec, remaining_for
from .models import Order, OrderLine, Product

UNIT_WORDS = {
    Product.Unit.VIAL: ("flacon", "flacons"),
    Product.Unit.BOX: ("boîte", "boîtes"),
    Product.Unit.UNIT: ("unité", "unités"),
}


def cap_label(rule: Rule, unit_plural: str) -> str:
    if rule.mode == "unlimited":
        return "Non limité"
    if rule.mode == "per_effector":
        return f"{rule.limit} {unit_plural} max."
    if rule.mode == "per_pharmacy":
        return f"{rule.limit} {unit_plural} max. pour l'officine"
    return "Non ouvert"


@dataclass
class GridCell:
    key: CellKey
    spec: CellSpec
    current: int  # quantity of the registered order (0 if none)
    label: str  # the accessible label of the input

    @property
    def name(self) -> str:
        return self.key.field_name


@dataclass
class GridRow:
    effector: GridEffector
    cells: dict[int, GridCell]  # by injection rank (0, or 1 and 2); a closed rank is absent

    def cell(self, rank: int) -> GridCell | None:
        return self.cells.get(rank)


@dataclass
class ProductBlock:
    offer: ProductOffer
    product: Product
    ranks: list[int]
    rows: list[GridRow]
    rules: dict[tuple[int, int], Rule]  # (effector type id, rank) → rule

    @property
    def unit_plural(self) -> str:
        return UNIT_WORDS[self.product.unit][1]

    @property
    def stock_remaining(self) -> int | None:
        return self.offer.stock_remaining


@dataclass
class OrderGrid:
    session: OrderSession
    pharmacy: Pharmacy
    order: Order | None
    blocks: list[ProductBlock]
    cells: dict[CellKey, CellSpec]
    current: dict[CellKey, int]  # registered quantities, including cells no longer open
    labels: Labels
    stocks: list[StockSpec]
    effectors: dict[int, GridEffector] = field(default_factory=dict)

    @property
    def base_version(self) -> int:
        """The order version this grid was read at: 0 when there is no order yet."""
        return self.order.version if self.order else 0

    @property
    def has_registered_order(self) -> bool:
        return self.order is not None and self.order.status == Order.Status.REGISTERED

    def remaining(self, key: CellKey, quantities: dict[CellKey, int]) -> int | None:
        return remaining_for(key=key, cells=self.cells, quantities=quantities)

    def product(self, product_id: int) -> Product | None:
        for block in self.blocks:
            if block.product.pk == product_id:
                return block.product
        return None


@dataclass(frozen=True, slots=True)
class GridType:
    """What the grid and the recap show of an effector type."""

    pk: int
    kind: str
    sort_order: int
    label: str
    label_plural: str


@dataclass(frozen=True, slots=True)
class GridEffector:
    """An effector as the grid, the recap and validation use it: read as plain values, not as four model
    instances joined by select_related (that was a fifth of a validation, profiled with py-spy)."""

    pk: int
    type: GridType
    display_name: str
    identifier: str

    @property
    def type_id(self) -> int:
        return self.type.pk


_KIND_ORDER = {
    EffectorType.Kind.PHARMACY: 0,
    EffectorType.Kind.AGGREGATE: 1,
    EffectorType.Kind.PROFESSIONAL: 2,
    EffectorType.Kind.ESTABLISHMENT: 3,
}


def _effector_sort_key(effector: GridEffector) -> tuple:
    return (_KIND_ORDER[effector.type.kind], effector.type.sort_order, effector.display_name.lower(), effector.pk)


# Read from the effector side (an effector has at most one current attachment, a database constraint).
_ATTACHED_EFFECTORS = PrecompiledQuery(
    lambda pharmacy_id: (
        Effector.objects.filter(attachments__pharmacy=pharmacy_id, attachments__detached_at__isnull=True)
        .exclude(professional__is_active=False)
        .exclude(establishment__is_active=False)
        .order_by()
        .values_list(
            "pk",
            "type_id",
            "type__kind",
            "type__sort_order",
            "type__label",
            "type__label_plural",
            "professional_id",
            "professional__first_name",
            "professional__last_name",
            "professional__rpps",
            "establishment_id",
            "establishment__name",
            "establishment__finess",
        )
    ),
    "pharmacy_id",
)


def attached_effectors(*, pharmacy: Pharmacy) -> list[GridEffector]:
    """Effectors attached to the officine now and still active in the national referential, in grid order."""
    rows = _ATTACHED_EFFECTORS.rows(pharmacy_id=pharmacy.pk)
    types: dict[int, GridType] = {}
    effectors = []
    for pk, type_id, kind, sort_order, label, plural, prof_id, first, last, rpps, est_id, est_name, finess in rows:
        effector_type = types.get(type_id) or types.setdefault(
            type_id, GridType(type_id, kind, sort_order, label, plural)
        )
        effectors.append(
            GridEffector(
                pk=pk,
                type=effector_type,
                display_name=effector_display_name(
                    kind=kind,
                    type_label_plural=plural,
                    professional_name=(first, last) if prof_id else None,
                    establishment_name=est_name if est_id else None,
                ),
                identifier=effector_identifier(rpps=rpps if prof_id else None, finess=finess if est_id else None),
            )
        )
    return sorted(effectors, key=_effector_sort_key)


_UNREAD = object()
_OFFER_FIELDS = [f.attname for f in ProductOffer._meta.concrete_fields]
_PRODUCT_FIELDS = [f.attname for f in Product._meta.concrete_fields]
_RULE_FIELDS = ["effector_type_id", "injection_rank", "mode", "limit", "effector_type__label_plural"]
# The session's offers with their products (every field loaded, as select_related("product") would) and their cap
# rules as plain tuples, in one statement: a row per rule, and one row of NULL rule fields for an offer without
# any (LEFT JOIN). This runs on every grid, recap and validation: building a CapRule and an EffectorType per rule
# through prefetch_related took a tenth of a validation (profiled), and the rules in a second statement were one
# more round trip to PostgreSQL on each of these pages.
_SESSION_OFFERS_AND_RULES = PrecompiledQuery(
    lambda session_id: (
        ProductOffer.objects.filter(session=session_id)
        .order_by("product__sort_order", "product__name", "pk")
        .values_list(
            *_OFFER_FIELDS,
            *(f"product__{name}" for name in _PRODUCT_FIELDS),
            *(f"cap_rules__{name}" for name in _RULE_FIELDS),
        )
    ),
    "session_id",
)


def _session_offers_and_rules(
    *, session_id: int
) -> tuple[list[ProductOffer], dict[int, list[tuple[int, int, str, int | None, str]]]]:
    """The session's offers in display order, and per offer id its rules as
    (effector type id, injection rank, mode, limit, the type's plural label)."""
    offers: dict[int, ProductOffer] = {}
    rules: dict[int, list[tuple[int, int, str, int | None, str]]] = defaultdict(list)
    product_end = len(_OFFER_FIELDS) + len(_PRODUCT_FIELDS)
    for row in _SESSION_OFFERS_AND_RULES.rows(session_id=session_id):
        offer_id = row[0]
        if offer_id not in offers:
            offer = ProductOffer.from_db(DEFAULT_DB_ALIAS, _OFFER_FIELDS, row[: len(_OFFER_FIELDS)])
            offer.product = Product.from_db(DEFAULT_DB_ALIAS, _PRODUCT_FIELDS, row[len(_OFFER_FIELDS) : product_end])
            offers[offer_id] = offer
        if row[product_end] is not None:  # the effector type of a rule is never NULL: NULL means no rule
            rules[offer_id].append(row[product_end:])
    return list(offers.values()), rules


_ORDER_QUANTITIES = PrecompiledQuery(
    lambda order_id: (
        OrderLine.objects.filter(order=order_id)
        .order_by()
        .values_list("effector_id", "product_id", "injection_rank", "quantity_requested")
    ),
    "order_id",
)


_ORDER_FIELDS = [f.attname for f in Order._meta.concrete_fields]
_SESSION_FIELDS = [f.attname for f in OrderSession._meta.concrete_fields]
# Read by the grid, the recap and the home page of every officine: compiled once per process.
_PHARMACY_ORDER = PrecompiledQuery(
    lambda pharmacy_id, session_id: (
        Order.objects.filter(pharmacy=pharmacy_id, session=session_id).order_by().values_list(*_ORDER_FIELDS)
    ),
    "pharmacy_id",
    "session_id",
)


def pharmacy_order(*, pharmacy: Pharmacy, session: OrderSession) -> Order | None:
    """The officine's order in the session, whatever its status (at most one: a database constraint)."""
    rows = _PHARMACY_ORDER.rows(pharmacy_id=pharmacy.pk, session_id=session.pk)
    if not rows:
        return None
    order = Order.from_db(DEFAULT_DB_ALIAS, _ORDER_FIELDS, rows[0])
    order.pharmacy, order.session = pharmacy, session  # already in hand: no query to read them again
    return order


def order_grid(*, pharmacy: Pharmacy, session: OrderSession, order: Order | object | None = _UNREAD) -> OrderGrid:
    """Everything the order grid, the recap and validation need, in four queries.

    `order` may be passed (even None: "there is none") when the caller has just read it under lock.
    """
    offers, rules_by_offer = _session_offers_and_rules(session_id=session.pk)
    effectors = attached_effectors(pharmacy=pharmacy)
    if order is _UNREAD:
        order = pharmacy_order(pharmacy=pharmacy, session=session)
    current: dict[CellKey, int] = {}
    if order is not None and order.status == Order.Status.REGISTERED:
        for effector_id, product_id, rank, quantity in _ORDER_QUANTITIES.rows(order_id=order.pk):
            current[CellKey(effector_id, product_id, rank)] = quantity

    cells: dict[CellKey, CellSpec] = {}
    blocks: list[ProductBlock] = []
    type_plurals: dict[int, str] = {}
    stocks: list[StockSpec] = []
    for offer in offers:
        product = offer.product
        ranks = [1, 2] if product.has_injection_rank else [0]
        rules: dict[tuple[int, int], Rule] = {}
        for type_id, rank, mode, limit, type_plural in rules_by_offer[offer.pk]:
            type_plurals[type_id] = type_plural
            if rank in ranks:
                rules[(type_id, rank)] = Rule(mode, limit)
        rows = []
        unit_singular = UNIT_WORDS[product.unit][0]
        for effector in effectors:
            row_cells = {}
            for rank in ranks:
                rule = rules.get((effector.type_id, rank))
                if rule is None or not rule.is_open:
                    continue
                key = CellKey(effector.pk, product.pk, rank)
                spec = CellSpec(key=key, effector_type_id=effector.type_id, rule=rule, box_size=offer.box_size)
                cells[key] = spec
                rank_text = {0: "", 1: ", 1re injection", 2: ", 2nde injection"}[rank]
                row_cells[rank] = GridCell(
                    key=key,
                    spec=spec,
                    current=current.get(key, 0),
                    label=f"Quantité de {product.short_name} ({unit_singular}s{rank_text}) pour "
                    f"{effector.display_name}",
                )
            if row_cells:
                rows.append(GridRow(effector=effector, cells=row_cells))
        if offer.national_stock is not None:
            held = sum(q for k, q in current.items() if k.product_id == product.pk)
            stocks.append(StockSpec(product.pk, offer.stock_remaining or 0, held))
        blocks.append(ProductBlock(offer=offer, product=product, ranks=ranks, rows=rows, rules=rules))

    for effector in effectors:
        type_plurals.setdefault(effector.type_id, effector.type.label_plural)
    labels = Labels(
        effectors={e.pk: e.display_name for e in effectors},
        products={o.product.pk: o.product.short_name for o in offers},
        units={o.product.pk: UNIT_WORDS[o.product.unit] for o in offers},
        type_plurals=type_plurals,
    )
    return OrderGrid(
        session=session,
        pharmacy=pharmacy,
        order=order,
        blocks=[b for b in blocks if b.rows],
        cells=cells,
        current=current,
        labels=labels,
        stocks=stocks,
        effectors={e.pk: e for e in effectors},
    )


# --- consultation ------------------------------------------------------------------------------


def orders_for_pharmacy(*, pharmacy: Pharmacy) -> QuerySet[Order]:
    return Order.objects.filter(pharmacy=pharmacy).select_related("session").order_by("-session__opens_at")


def order_for_pharmacy(*, pharmacy: Pharmacy, reference: str) -> Order:
    """The order with this reference if it belongs to the officine (Order.DoesNotExist otherwise → 404)."""
    return Order.objects.select_related("session", "pharmacy").get(pharmacy=pharmacy, reference=reference)


def order_lines(*, order: Order) -> list[OrderLine]:
    return list(
        order.lines.select_related(
            "product", "effector__type", "effector__professional", "effector__establishment"
        ).order_by("product__sort_order", "effector__type__sort_order", "effector_id", "injection_rank")
    )


def order_history(*, order: Order) -> QuerySet[AuditEvent]:
    """The "Historique des modifications" of an order: its audit events, newest first."""
    from django.contrib.contenttypes.models import ContentType

    return AuditEvent.objects.filter(
        target_type=ContentType.objects.get_for_model(Order), target_id=str(order.pk)
    ).order_by("-created_at", "-id")


@dataclass
class HistoryFilters:
    kind: str = ""  # "" | "professional" | "establishment" | "pharmacy"
    effector_type: str = ""  # EffectorType.code
    product: str = ""  # Product.code
    query: str = ""  # name, RPPS or FINESS
    since: datetime | None = None
    until: datetime | None = None


def history_lines(*, pharmacy: Pharmacy, filters: HistoryFilters) -> QuerySet[OrderLine]:
    """Every registered line of the officine across sessions, by professional and by establishment."""
    lines = OrderLine.objects.filter(order__pharmacy=pharmacy, order__status=Order.Status.REGISTERED).select_related(
        "order__session", "product", "effector__type", "effector__professional", "effector__establishment"
    )
    if filters.kind == "professional":
        lines = lines.filter(effector__professional__isnull=False)
    elif filters.kind == "establishment":
        lines = lines.filter(effector__establishment__isnull=False)
    elif filters.kind == "pharmacy":
        lines = lines.filter(effector__pharmacy__isnull=False)
    if filters.effector_type:
        lines = lines.filter(effector__type__code=filters.effector_type)
    if filters.product:
        lines = lines.filter(product__code=filters.product)
    if filters.query:
        q = filters.query.strip()
        lines = lines.filter(
            Q(effector__professional__last_name__icontains=q)
            | Q(effector__professional__first_name__icontains=q)
            | Q(effector__professional__rpps=q)
            | Q(effector__establishment__name__icontains=q)
            | Q(effector__establishment__finess=q.upper())
        )
    if filters.since:
        lines = lines.filter(order__session__opens_at__gte=filters.since)
    if filters.until:
        lines = lines.filter(order__session__opens_at__lt=filters.until)
    return lines.order_by(
        "-order__session__opens_at", "effector__type__sort_order", "effector_id", "product__sort_order"
    )


def totals_by_product(lines: list[OrderLine]) -> list[dict]:
    """Per product: units requested and doses, for the recap and the order page."""
    totals: dict[int, dict] = {}
    for line in lines:
        entry = totals.setdefault(
            line.product_id, {"product": line.product, "quantity": 0, "doses": 0, "effectors": set()}
        )
        entry["quantity"] += line.quantity_requested
        entry["doses"] += line.product.doses(line.quantity_requested) or 0
        entry["effectors"].add(line.effector_id)
    return [
        {**t, "effectors": len(t["effectors"]), "unit": UNIT_WORDS[t["product"].unit][1]}
        for t in sorted(totals.values(), key=lambda t: (t["product"].sort_order, t["product"].name))
    ]


def totals_by_effector(lines: list[OrderLine]) -> list[dict]:
    grouped: dict[int, dict] = defaultdict(lambda: {"lines": []})
    for line in lines:
        entry = grouped[line.effector_id]
        entry["effector"] = line.effector
        entry["lines"].append(line)
    return sorted(grouped.values(), key=lambda e: _effector_sort_key(e["effector"]))


# Offered on every grid of an officine without an order yet ("Reprendre ma commande précédente").
_PREVIOUS_ORDER = PrecompiledQuery(
    lambda pharmacy_id, before: (
        Order.objects.filter(pharmacy=pharmacy_id, status=Order.Status.REGISTERED, session__opens_at__lt=before)
        .order_by("-session__opens_at", "-pk")
        .values_list(*_ORDER_FIELDS, *(f"session__{name}" for name in _SESSION_FIELDS))[:1]
    ),
    "pharmacy_id",
    "before",
    datetimes=("before",),
)


def previous_order(*, pharmacy: Pharmacy, session: OrderSession) -> Order | None:
    """The officine's most recent registered order in an earlier session ("Reprendre ma commande"), with its
    session."""
    rows = _PREVIOUS_ORDER.rows(pharmacy_id=pharmacy.pk, before=session.opens_at)
    if not rows:
        return None
    split = len(_ORDER_FIELDS)
    order = Order.from_db(DEFAULT_DB_ALIAS, _ORDER_FIELDS, rows[0][:split])
    order.session = OrderSession.from_db(DEFAULT_DB_ALIAS, _SESSION_FIELDS, rows[0][split:])
    order.pharmacy = pharmacy
    return order


@dataclass(frozen=True)
class OrderStatus:
    """What the home page says about the officine's order in a session."""

    order: Order | None
    state: str  # "none" | "registered" | "modified" | "cancelled"
    lines: int

    @property
    def label(self) -> str:
        return {
            "none": "Aucune commande",
            "registered": "Commande enregistrée",
            "modified": "Commande modifiée",
            "cancelled": "Commande annulée",
        }[self.state]


def pharmacy_order_status(*, pharmacy: Pharmacy, session: OrderSession) -> OrderStatus:
    order = pharmacy_order(pharmacy=pharmacy, session=session)
    if order is None:
        return OrderStatus(None, "none", 0)
    if order.status == Order.Status.CANCELLED:
        return OrderStatus(order, "cancelled", 0)
    return OrderStatus(order, "modified" if order.version > 1 else "registered", order.lines.count())
