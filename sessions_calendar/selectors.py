"""Reading sessions: which one is open now, which one comes next, the published calendar, the rules of a
session, the orders that exceed the rules in force, and who gets the end-of-session reminder."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone

from vaccine_orders.precompiled import PrecompiledGet, PrecompiledQuery

from .formatting import day_range, hour, local_instant
from .models import CapRule, OrderSession, ProductOffer
from .rules import RANK_SUFFIX, Cell, ProductRules, SessionRules

if TYPE_CHECKING:
    from vaccine_orders.portal.selectors import ServiceSwitches

_SESSION = PrecompiledGet(OrderSession)


def session_by_id(*, session_id: int) -> OrderSession | None:
    """A session by id, every field loaded, for the order pages (compiled once per process: read on every
    grid, recap and validation). Its pilot group, when there is one, is read only if needed."""
    return _SESSION.get(session_id)


# The reminder goes out on the afternoon of the session's last day (Paris time).
REMINDER_FROM = time(14)
REMINDER_MIN_NOTICE = timedelta(hours=3)
REMINDER_LOOKBACK_SESSIONS = 4


_SESSION_FIELDS = [f.attname for f in OrderSession._meta.concrete_fields]
# The home page and "Saisie de commande" of every officine ask for it: compiled once per process.
_SESSION_CURRENT = PrecompiledQuery(
    lambda at: (
        OrderSession.objects.filter(opens_at__lte=at, closes_at__gt=at, is_closed_week=False)
        .order_by("opens_at", "pk")
        .values_list(*_SESSION_FIELDS)[:1]
    ),
    "at",
    datetimes=("at",),
)


def session_current(*, at: datetime) -> OrderSession | None:
    """The session open at `at` (opening included, closing excluded), if any. Its pilot group, when there is
    one, is read only if needed."""
    rows = _SESSION_CURRENT.rows(at=at)
    return OrderSession.from_db(DEFAULT_DB_ALIAS, _SESSION_FIELDS, rows[0]) if rows else None


def session_next(*, at: datetime) -> OrderSession | None:
    """The next session that will open after `at` (closed weeks are skipped)."""
    return (
        OrderSession.objects.filter(opens_at__gt=at, is_closed_week=False)
        .select_related("pilot_group")
        .order_by("opens_at")
        .first()
    )


def pharmacy_may_use_service(*, pharmacy, switches: ServiceSwitches | None = None) -> bool:
    """False when SpF restricts the whole service to a pilot group this officine is not part of.

    The single rule for the whole-service restriction (ServiceSettings.pilot_group): the access decorator,
    the reminders and the ordering service all ask here. `switches`: already read by the caller.
    """
    from vaccine_orders.portal.selectors import service_switches

    group_id = (switches or service_switches()).pilot_group_id
    if group_id is None:
        return True
    return pharmacy.pilot_groups.filter(pk=group_id).exists()


def pharmacy_may_order_in_session(*, pharmacy, session: OrderSession, switches: ServiceSwitches | None = None) -> bool:
    """The service is open to the officine and, for a pilot-only session, the officine is in its group."""
    if session.is_closed_week or not pharmacy_may_use_service(pharmacy=pharmacy, switches=switches):
        return False
    if session.pilot_group_id is None:
        return True
    return session.pilot_group.pharmacies.filter(pk=pharmacy.pk).exists()


def session_previous(*, session: OrderSession) -> OrderSession | None:
    """The latest earlier open session that has rules (the one "copier les règles" reads)."""
    return (
        OrderSession.objects.filter(opens_at__lt=session.opens_at, is_closed_week=False)
        .filter(Exists(ProductOffer.objects.filter(session=OuterRef("pk"))))
        .order_by("-opens_at")
        .first()
    )


def session_rules(*, session: OrderSession) -> SessionRules:
    """The rules in force for `session`: one entry per offered product, in two queries."""
    rules: SessionRules = {}
    offers = ProductOffer.objects.filter(session=session).prefetch_related(
        Prefetch("cap_rules", queryset=CapRule.objects.order_by())
    )
    for offer in offers:
        rules[offer.product_id] = ProductRules(
            is_open=True,
            national_stock=offer.national_stock,
            box_size=offer.box_size,
            cells={(r.effector_type_id, r.injection_rank): Cell(r.mode, r.limit) for r in offer.cap_rules.all()},
        )
    return rules


# --- the published calendar ------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarRow:
    session: OrderSession

    @property
    def is_open(self) -> bool:
        return not self.session.is_closed_week

    @property
    def dates(self) -> str:
        return day_range(
            timezone.localtime(self.session.opens_at).date(), timezone.localtime(self.session.closes_at).date()
        )

    @property
    def state(self) -> str:
        return "Ouvert" if self.is_open else "Fermé"

    @property
    def hours(self) -> str:
        """« lundi 8 h – mardi 23 h »."""
        from .formatting import WEEKDAYS

        opens, closes = timezone.localtime(self.session.opens_at), timezone.localtime(self.session.closes_at)
        return f"{WEEKDAYS[opens.weekday()]} {hour(opens.time())} – {WEEKDAYS[closes.weekday()]} {hour(closes.time())}"

    @property
    def delivery(self) -> str:
        if not self.is_open or not self.session.delivery_start or not self.session.delivery_end:
            return ""
        return day_range(self.session.delivery_start, self.session.delivery_end)

    @property
    def year(self) -> int:
        return timezone.localtime(self.session.opens_at).year


def published_calendar(*, since: datetime, until: datetime | None = None) -> list[CalendarRow]:
    """Sessions (open and closed weeks) closing after `since` (and opening before `until`), in order."""
    sessions = OrderSession.objects.filter(closes_at__gt=since).select_related("pilot_group").order_by("opens_at")
    if until is not None:
        sessions = sessions.filter(opens_at__lt=until)
    return [CalendarRow(session) for session in sessions]


# --- orders over the rules in force ------------------------------------------------------------------


@dataclass(frozen=True)
class OverCap:
    """One thing an existing order holds that the rules now in force would refuse.

    A "per pharmacy" excess concerns the total of a group (order × product × effector type × rank): then
    `line_id` and `effector_id` are None. `allowed` is the most the rule lets through, so logistics can
    confirm `allowed` instead of `quantity`. Existing orders are never rewritten by a rule change.
    """

    reason: str  # "closed" | "per_effector" | "per_pharmacy" | "box"
    order_id: int
    order_reference: str
    pharmacy_id: int
    pharmacy_name: str
    pharmacy_finess: str
    product_id: int
    product_name: str
    effector_type_id: int
    effector_type_label: str
    injection_rank: int
    line_id: int | None
    effector_id: int | None
    quantity: int
    allowed: int
    limit: int | None

    @property
    def key(self) -> tuple:
        return (self.reason, self.order_id, self.product_id, self.effector_type_id, self.injection_rank, self.line_id)

    @property
    def excess(self) -> int:
        return self.quantity - self.allowed

    @property
    def message(self) -> str:
        what = f"{self.product_name}{RANK_SUFFIX[self.injection_rank]}"
        if self.reason == "closed":
            return f"{what} n'est plus ouvert aux {self.effector_type_label.lower()} : {self.quantity} commandé(s)."
        if self.reason == "per_effector":
            return f"{what} : {self.quantity} pour un effecteur, plafond {self.limit} par effecteur."
        if self.reason == "per_pharmacy":
            return (
                f"{what} : {self.quantity} au total pour les {self.effector_type_label.lower()} de l'officine, "
                f"plafond {self.limit} par officine."
            )
        return f"{what} : {self.quantity} n'est pas un nombre entier de boîtes de {self.limit}."


def orders_over_cap(*, session: OrderSession) -> list[OverCap]:
    """What the registered orders of `session` hold beyond the rules in force now, line by line (closed,
    per effector, box multiples) or per group (per pharmacy). Four queries whatever the number of orders.
    """
    from effectors.models import EffectorType
    from vaccine_orders.orders.models import Order, OrderLine, Product

    offers = {o.product_id: o for o in ProductOffer.objects.filter(session=session).prefetch_related("cap_rules")}
    rules: dict[tuple[int, int, int], CapRule] = {}
    for offer in offers.values():
        for rule in offer.cap_rules.all():
            rules[(offer.product_id, rule.effector_type_id, rule.injection_rank)] = rule

    lines = (
        OrderLine.objects.filter(order__session=session, order__status=Order.Status.REGISTERED)
        .order_by("order_id", "product_id", "effector__type_id", "injection_rank", "pk")
        .values_list(
            "pk", "order_id", "effector_id", "effector__type_id", "product_id", "injection_rank", "quantity_requested"
        )
    )
    raw: list[
        tuple
    ] = []  # (reason, line_id, order_id, effector_id, type_id, product_id, rank, quantity, allowed, limit)
    groups: dict[tuple[int, int, int, int], int] = defaultdict(int)
    for line_id, order_id, effector_id, type_id, product_id, rank, quantity in lines.iterator(chunk_size=5000):
        offer = offers.get(product_id)
        rule = rules.get((product_id, type_id, rank))
        if offer is None or rule is None or rule.mode == CapRule.Mode.CLOSED:
            raw.append(("closed", line_id, order_id, effector_id, type_id, product_id, rank, quantity, 0, None))
            continue
        if rule.mode == CapRule.Mode.PER_EFFECTOR and quantity > rule.limit:
            raw.append(
                (
                    "per_effector",
                    line_id,
                    order_id,
                    effector_id,
                    type_id,
                    product_id,
                    rank,
                    quantity,
                    rule.limit,
                    rule.limit,
                )
            )
        if rule.mode == CapRule.Mode.PER_PHARMACY:
            groups[(order_id, product_id, type_id, rank)] += quantity
        if offer.box_size and quantity % offer.box_size:
            allowed = quantity - quantity % offer.box_size
            raw.append(
                ("box", line_id, order_id, effector_id, type_id, product_id, rank, quantity, allowed, offer.box_size)
            )
    for (order_id, product_id, type_id, rank), total in groups.items():
        limit = rules[(product_id, type_id, rank)].limit
        if total > limit:
            raw.append(("per_pharmacy", None, order_id, None, type_id, product_id, rank, total, limit, limit))
    if not raw:
        return []

    orders = {
        o["pk"]: o
        for o in Order.objects.filter(pk__in={item[2] for item in raw}).values(
            "pk", "reference", "pharmacy_id", "pharmacy__name", "pharmacy__finess"
        )
    }
    products = dict(Product.objects.filter(pk__in={item[5] for item in raw}).values_list("pk", "short_name"))
    types = dict(EffectorType.objects.values_list("pk", "label_plural"))
    result = [
        OverCap(
            reason=reason,
            order_id=order_id,
            order_reference=orders[order_id]["reference"],
            pharmacy_id=orders[order_id]["pharmacy_id"],
            pharmacy_name=orders[order_id]["pharmacy__name"],
            pharmacy_finess=orders[order_id]["pharmacy__finess"],
            product_id=product_id,
            product_name=products.get(product_id, ""),
            effector_type_id=type_id,
            effector_type_label=types.get(type_id, ""),
            injection_rank=rank,
            line_id=line_id,
            effector_id=effector_id,
            quantity=quantity,
            allowed=allowed,
            limit=limit,
        )
        for reason, line_id, order_id, effector_id, type_id, product_id, rank, quantity, allowed, limit in raw
    ]
    result.sort(
        key=lambda o: (o.order_reference, o.product_name, o.effector_type_label, o.injection_rank, o.line_id or 0)
    )
    return result


# --- the end-of-session reminder ---------------------------------------------------------------------


def reminder_sessions_due(*, now: datetime) -> list[OrderSession]:
    """Open sessions whose last day (Paris) is today and whose last afternoon has begun."""
    local_now = timezone.localtime(now)
    day_start = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    candidates = OrderSession.objects.filter(
        is_closed_week=False,
        opens_at__lte=now,
        closes_at__gt=now,
        closes_at__lt=day_start + timedelta(days=2),
    ).select_related("pilot_group")
    due = []
    for session in candidates:
        closing = timezone.localtime(session.closes_at)
        # From 14:00 on the last day; a session closing earlier than 17:00 gets its three last hours.
        starts = min(
            closing.replace(hour=REMINDER_FROM.hour, minute=REMINDER_FROM.minute, second=0),
            closing - REMINDER_MIN_NOTICE,
        )
        if closing.date() == local_now.date() and local_now >= starts:
            due.append(session)
    return due


def reminder_targets(*, session: OrderSession) -> QuerySet:
    """Officines that ordered in one of the last four sessions, have not ordered in this one, want the
    reminder, have an address, and may order in this session (pilot rules)."""
    from accounts.models import Pharmacy
    from vaccine_orders.orders.models import Order
    from vaccine_orders.portal.models import ServiceSettings

    previous = list(
        OrderSession.objects.filter(opens_at__lt=session.opens_at, is_closed_week=False)
        .order_by("-opens_at")
        .values_list("pk", flat=True)[:REMINDER_LOOKBACK_SESSIONS]
    )
    # IN / NOT IN over the two sets of buyers: PostgreSQL hashes each subquery once, whatever its (possibly
    # stale, mid-session) statistics say; correlated EXISTS fell into a nested loop of 10^8 rows.
    registered = Order.objects.filter(status=Order.Status.REGISTERED)
    targets = (
        Pharmacy.objects.filter(is_active=True, reminders_enabled=True)
        .exclude(email="")
        .filter(pk__in=registered.filter(session_id__in=previous).values("pharmacy_id"))
        .exclude(pk__in=registered.filter(session=session).values("pharmacy_id"))
    )
    members = Pharmacy.pilot_groups.through.objects
    if session.pilot_group_id is not None:
        targets = targets.filter(pk__in=members.filter(pilotgroup_id=session.pilot_group_id).values("pharmacy_id"))
    service_group = ServiceSettings.objects.filter(pk=1).values_list("pilot_group_id", flat=True).first()
    if service_group is not None:
        targets = targets.filter(pk__in=members.filter(pilotgroup_id=service_group).values("pharmacy_id"))
    return targets.order_by("pk")


def session_label(session: OrderSession) -> str:
    """« Session du lundi 17 juillet 2023 à 8 h au mardi 18 juillet 2023 à 23 h »."""
    return f"Session du {local_instant(session.opens_at)} au {local_instant(session.closes_at)}"
