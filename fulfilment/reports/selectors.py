"""Reading the figures of the reports: who may see what (the scope), the period, the order lines they
cover, and their sums by type of professional, product, department, officine or session.

The rules, in one place:
- An ARS agent (a user with a region) sees only the officines of their region; SpF staff see the whole
  country or any region. A region, department or officine outside the scope is refused
  (ReportScopeError, the views answer 404): it never widens nor silently narrows a report.
- Only registered orders count (cancelling an order deletes its lines anyway).
- A period by dates takes the orders by the day (Paris time) of their last validation ("Valider"): each
  order counts once, with its lines as they are now. A period by sessions takes every order of those
  sessions.
- Ordered quantities are visible at once. Confirmed quantities appear only from the publication instant
  of their session (fulfilment.selectors.publication_instant), for ARS and SpF alike: a report never
  shows a confirmation the officine itself cannot see yet (logistics works on them in the admin).
- Vials and doses follow Product.doses(): a box counts units_per_box vials; a product without doses
  per vial (syringes, needles) has neither vials nor doses, only its quantity in its own unit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    Expression,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from accounts.models import Department, Pharmacy, Region, User
from effectors.models import EffectorType
from fulfilment.selectors import publication_instant
from sessions_calendar.models import OrderSession
from vaccine_orders.identifiers import normalize_identifier
from vaccine_orders.orders.models import Order, OrderLine, Product

from .errors import ReportScopeError
from .models import DailyReport

PARIS = ZoneInfo(settings.TIME_ZONE)
DAILY_REPORTS_KEPT_DAYS = 90
UNIT_LABELS = {Product.Unit.VIAL: "flacon", Product.Unit.BOX: "boîte", Product.Unit.UNIT: "unité"}
RANK_LABELS = {0: "", 1: "1re injection", 2: "2nde injection"}


# --- Scope ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportScope:
    """What a report covers. `restricted_region_id` is the ARS agent's own region, applied to every query
    whatever else is chosen (None for SpF staff, who may see the whole country)."""

    restricted_region_id: int | None = None
    region: Region | None = None
    department: Department | None = None
    pharmacy: Pharmacy | None = None

    @property
    def is_national(self) -> bool:
        return self.restricted_region_id is None and self.region is None

    @property
    def label(self) -> str:
        if self.pharmacy is not None:
            return f"{self.pharmacy.name} (FINESS {self.pharmacy.finess})"
        if self.department is not None:
            return f"Département {self.department}"
        if self.region is not None:
            return f"Région {self.region.name}"
        return "France entière"

    @property
    def slug(self) -> str:
        if self.pharmacy is not None:
            return f"officine-{self.pharmacy.finess}"
        if self.department is not None:
            return f"departement-{self.department.code}"
        if self.region is not None:
            return f"region-{self.region.code}"
        return "national"

    def q(self, pharmacy_path: str = "order__pharmacy") -> Q:
        """The filter on the officines, as seen from a model reaching them through `pharmacy_path` ("" when
        the model is Pharmacy itself)."""
        prefix = f"{pharmacy_path}__" if pharmacy_path else ""
        condition = Q()
        if self.restricted_region_id is not None:
            condition &= Q(**{f"{prefix}department__region_id": self.restricted_region_id})
        if self.region is not None:
            condition &= Q(**{f"{prefix}department__region_id": self.region.pk})
        if self.department is not None:
            condition &= Q(**{f"{prefix}department_id": self.department.pk})
        if self.pharmacy is not None:
            condition &= Q(**{f"{pharmacy_path}_id" if pharmacy_path else "pk": self.pharmacy.pk})
        return condition


def user_region_id(user: User) -> int | None:
    """The region an agent is bound to (ARS), or None for SpF staff who see the whole country."""
    return getattr(user, "region_id", None) or None


def report_scope_for(
    *, user: User, region_code: str = "", department_code: str = "", pharmacy_finess: str = ""
) -> ReportScope:
    """The scope asked for, checked against the user's own. Raises ReportScopeError("out_of_scope") for
    anything unknown or outside an ARS agent's region, ReportScopeError("inconsistent") for a department or
    officine outside the region or department also chosen."""
    restricted = user_region_id(user)
    if restricted is None and not user.is_staff:
        raise ReportScopeError
    region = Region.objects.filter(pk=restricted).first() if restricted is not None else None
    region_code = (region_code or "").strip()
    if region_code:
        chosen = Region.objects.filter(code=region_code).first()
        if chosen is None or (restricted is not None and chosen.pk != restricted):
            raise ReportScopeError
        region = chosen
    department = None
    department_code = (department_code or "").strip().upper()
    if department_code:
        department = Department.objects.select_related("region").filter(code=department_code).first()
        if department is None or (restricted is not None and department.region_id != restricted):
            raise ReportScopeError
        if region is not None and department.region_id != region.pk:
            raise ReportScopeError("inconsistent")
    pharmacy = None
    finess = normalize_identifier(pharmacy_finess or "")
    if finess:
        pharmacy = Pharmacy.objects.select_related("department__region").filter(finess=finess).first()
        if pharmacy is None or (restricted is not None and pharmacy.department.region_id != restricted):
            raise ReportScopeError
        if (region is not None and pharmacy.department.region_id != region.pk) or (
            department is not None and pharmacy.department_id != department.pk
        ):
            raise ReportScopeError("inconsistent")
    return ReportScope(restricted_region_id=restricted, region=region, department=department, pharmacy=pharmacy)


def departments_in_scope(*, user: User) -> QuerySet[Department]:
    restricted = user_region_id(user)
    departments = Department.objects.all()
    if restricted is not None:
        departments = departments.filter(region_id=restricted)
    return departments.order_by("code")


# --- Period ---------------------------------------------------------------------------------------------


def _paris_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=PARIS)


@dataclass(frozen=True)
class ReportPeriod:
    """Either dates (both included, Paris days of the orders' last validation) or sessions."""

    start: date | None = None
    end: date | None = None
    sessions: tuple[OrderSession, ...] = ()

    @classmethod
    def for_day(cls, day: date) -> ReportPeriod:
        return cls(start=day, end=day)

    @property
    def by_sessions(self) -> bool:
        return bool(self.sessions)

    def q(self) -> Q:
        if self.sessions:
            return Q(order__session_id__in=[s.pk for s in self.sessions])
        return Q(
            order__validated_at__gte=_paris_midnight(self.start),
            order__validated_at__lt=_paris_midnight(self.end + timedelta(days=1)),
        )

    @property
    def label(self) -> str:
        if self.sessions:
            ordered = sorted(self.sessions, key=lambda s: s.opens_at)
            return "Sessions : " + " ; ".join(_session_label(s.opens_at, s.closes_at) for s in ordered)
        if self.start == self.end:
            return f"Commandes validées le {self.start:%d/%m/%Y}"
        return f"Commandes validées du {self.start:%d/%m/%Y} au {self.end:%d/%m/%Y}"

    @property
    def slug(self) -> str:
        if self.sessions:
            days = sorted(timezone.localtime(s.opens_at, PARIS).date() for s in self.sessions)
            return "sessions-" + "_".join(f"{d:%Y%m%d}" for d in days[:4]) + ("-etc" if len(days) > 4 else "")
        if self.start == self.end:
            return f"{self.start:%Y%m%d}"
        return f"{self.start:%Y%m%d}-{self.end:%Y%m%d}"


def _session_label(opens_at: datetime, closes_at: datetime) -> str:
    start = timezone.localtime(opens_at, PARIS)
    end = timezone.localtime(closes_at, PARIS)
    return f"{start:%d/%m/%Y} – {end:%d/%m/%Y}"


def sessions_for_choice(*, at: datetime, years: int = 2) -> QuerySet[OrderSession]:
    """Sessions an agent may pick for a period: those opened during the last `years` years, newest first (a
    filter, not a slice, so that the form can validate the choices against it)."""
    return OrderSession.objects.filter(
        is_closed_week=False, opens_at__lte=at, opens_at__gte=at - timedelta(days=366 * years)
    ).order_by("-opens_at")


# --- The order lines and their quantities ------------------------------------------------------------


def visible_session_ids(*, at: datetime) -> list[int]:
    """Sessions whose confirmations are published at `at`. A few hundred rows at most (one per week), read
    in one query: the rule (an explicit instant, or 18:00 the day after closing) stays fulfilment's."""
    closed = OrderSession.objects.filter(closes_at__lte=at).only("pk", "closes_at", "confirmation_published_at")
    return [session.pk for session in closed if publication_instant(session=session) <= at]


def report_lines(*, scope: ReportScope, period: ReportPeriod, product: Product | None = None) -> QuerySet[OrderLine]:
    lines = OrderLine.objects.filter(order__status=Order.Status.REGISTERED).filter(scope.q(), period.q())
    if product is not None:
        lines = lines.filter(product=product)
    return lines


def confirmed_expression(visible_ids: list[int]) -> Expression:
    """The confirmed quantity of a line, or NULL while its session is not published."""
    if not visible_ids:
        # Typed, or PostgreSQL cannot choose which SUM() to apply to a bare NULL.
        return Cast(Value(None), output_field=IntegerField())
    return Case(
        When(order__session_id__in=visible_ids, then=F("quantity_confirmed")),
        default=Value(None),
        output_field=IntegerField(),
    )


def vials_expression(quantity: Expression) -> Expression:
    """Product.doses()'s vials, in SQL: NULL for products not counted in doses."""
    return Case(
        When(product__doses_per_vial__isnull=True, then=Value(None)),
        When(product__unit=Product.Unit.BOX, then=quantity * F("product__units_per_box")),
        default=quantity,
        output_field=BigIntegerField(),
    )


def doses_expression(quantity: Expression) -> Expression:
    return ExpressionWrapper(vials_expression(quantity) * F("product__doses_per_vial"), output_field=BigIntegerField())


def _metrics(visible_ids: list[int]) -> dict[str, Expression]:
    ordered = F("quantity_requested")
    confirmed = confirmed_expression(visible_ids)
    return {
        "orders": Count("order", distinct=True),
        "ordered_quantity": Sum(ordered),
        "ordered_vials": Sum(vials_expression(ordered)),
        "ordered_doses": Sum(doses_expression(ordered)),
        "confirmed_quantity": Sum(confirmed),
        "confirmed_vials": Sum(vials_expression(confirmed)),
        "confirmed_doses": Sum(doses_expression(confirmed)),
    }


# --- Breakdowns -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    key: str
    label: str
    group: tuple[str, ...]  # the values() fields: ids first, so that equal labels never merge
    order: tuple[str, ...]
    headers: tuple[str, ...]

    def cells(self, row: dict) -> tuple[str, ...]:
        if self.key == "type":
            return (row["effector__type__label"],)
        if self.key == "product":
            return (row["product__name"], UNIT_LABELS.get(row["product__unit"], row["product__unit"]))
        if self.key == "department":
            return (row["order__pharmacy__department__code"], row["order__pharmacy__department__name"])
        if self.key == "pharmacy":
            return (row["order__pharmacy__finess"], row["order__pharmacy__name"])
        return (_session_label(row["order__session__opens_at"], row["order__session__closes_at"]),)


DIMENSIONS: dict[str, Dimension] = {
    d.key: d
    for d in [
        Dimension(
            "type",
            "Type de professionnel",
            ("effector__type_id", "effector__type__sort_order", "effector__type__label"),
            ("effector__type__sort_order", "effector__type__label"),
            ("Type de professionnel",),
        ),
        Dimension(
            "product",
            "Produit",
            ("product_id", "product__sort_order", "product__name", "product__unit"),
            ("product__sort_order", "product__name"),
            ("Produit", "Unité"),
        ),
        Dimension(
            "department",
            "Département",
            (
                "order__pharmacy__department_id",
                "order__pharmacy__department__code",
                "order__pharmacy__department__name",
            ),
            ("order__pharmacy__department__code",),
            ("Code département", "Département"),
        ),
        Dimension(
            "pharmacy",
            "Officine",
            ("order__pharmacy_id", "order__pharmacy__finess", "order__pharmacy__name"),
            ("order__pharmacy__name", "order__pharmacy__finess"),
            ("FINESS", "Officine"),
        ),
        Dimension(
            "session",
            "Session",
            ("order__session_id", "order__session__opens_at", "order__session__closes_at"),
            ("order__session__opens_at",),
            ("Session",),
        ),
    ]
}
# Columns and sorting go from the widest to the narrowest, whatever order the boxes were ticked in.
DIMENSION_ORDER = ("session", "department", "pharmacy", "type", "product")
DEFAULT_DIMENSIONS = ("type", "product")


@dataclass(frozen=True)
class ReportSpec:
    scope: ReportScope
    period: ReportPeriod
    dimensions: tuple[str, ...] = DEFAULT_DIMENSIONS
    product: Product | None = None
    at: datetime = field(default_factory=timezone.now)

    @property
    def ordered_dimensions(self) -> tuple[Dimension, ...]:
        return tuple(DIMENSIONS[key] for key in DIMENSION_ORDER if key in self.dimensions)

    @property
    def shows_quantities(self) -> bool:
        """Quantities in the product's own unit only add up within one product."""
        return "product" in self.dimensions or self.product is not None


@dataclass(frozen=True)
class ReportRow:
    cells: tuple[str, ...]
    orders: int
    ordered_quantity: int | None
    ordered_vials: int | None
    ordered_doses: int | None
    confirmed_quantity: int | None
    confirmed_vials: int | None
    confirmed_doses: int | None

    def values(self, *, with_quantities: bool) -> tuple:
        figures: tuple = (self.orders,)
        figures += (self.ordered_quantity,) if with_quantities else ()
        figures += (self.ordered_vials, self.ordered_doses)
        figures += (self.confirmed_quantity,) if with_quantities else ()
        figures += (self.confirmed_vials, self.confirmed_doses)
        return (*self.cells, *figures)


def report_headers(spec: ReportSpec) -> list[str]:
    headers = [header for dimension in spec.ordered_dimensions for header in dimension.headers]
    headers.append("Commandes")
    if spec.shows_quantities:
        headers.append("Quantité commandée")
    headers += ["Flacons commandés", "Doses commandées"]
    if spec.shows_quantities:
        headers.append("Quantité confirmée")
    headers += ["Flacons confirmés", "Doses confirmées"]
    return headers


def report_queryset(spec: ReportSpec, *, visible_ids: list[int] | None = None) -> QuerySet:
    """One row per combination of the chosen dimensions, summed by the database (paginate it as it is)."""
    if visible_ids is None:
        visible_ids = visible_session_ids(at=spec.at)
    dimensions = spec.ordered_dimensions
    group = [name for dimension in dimensions for name in dimension.group]
    order = [name for dimension in dimensions for name in dimension.order]
    lines = report_lines(scope=spec.scope, period=spec.period, product=spec.product)
    return lines.values(*group).annotate(**_metrics(visible_ids)).order_by(*order)


def report_row(spec: ReportSpec, values: dict) -> ReportRow:
    cells = tuple(cell for dimension in spec.ordered_dimensions for cell in dimension.cells(values))
    return ReportRow(
        cells=cells,
        orders=values["orders"],
        ordered_quantity=values["ordered_quantity"],
        ordered_vials=values["ordered_vials"],
        ordered_doses=values["ordered_doses"],
        confirmed_quantity=values["confirmed_quantity"],
        confirmed_vials=values["confirmed_vials"],
        confirmed_doses=values["confirmed_doses"],
    )


def report_rows(spec: ReportSpec, *, chunk_size: int = 2000) -> Iterator[ReportRow]:
    """Every row of the report, streamed from the database (for the downloads)."""
    for values in streamed(report_queryset(spec), chunk_size=chunk_size):
        yield report_row(spec, values)


def report_totals(spec: ReportSpec, *, visible_ids: list[int] | None = None) -> ReportRow:
    if visible_ids is None:
        visible_ids = visible_session_ids(at=spec.at)
    lines = report_lines(scope=spec.scope, period=spec.period, product=spec.product)
    totals = lines.aggregate(**_metrics(visible_ids))
    cells = ["Total"] + [""] * (sum(len(d.headers) for d in spec.ordered_dimensions) - 1)
    if not spec.ordered_dimensions:
        cells = []
    # Quantities of different products (vials, boxes, units) do not add up.
    single_product = spec.product is not None
    return ReportRow(
        cells=tuple(cells),
        orders=totals["orders"] or 0,
        ordered_quantity=totals["ordered_quantity"] if single_product else None,
        ordered_vials=totals["ordered_vials"],
        ordered_doses=totals["ordered_doses"],
        confirmed_quantity=totals["confirmed_quantity"] if single_product else None,
        confirmed_vials=totals["confirmed_vials"],
        confirmed_doses=totals["confirmed_doses"],
    )


# --- Charts' data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesPoint:
    label: str
    detail: str
    orders: int
    ordered_doses: int
    confirmed_doses: int | None
    published: bool


def doses_by_session(spec: ReportSpec, *, visible_ids: list[int], limit: int = 26) -> list[SeriesPoint]:
    """Orders and doses per session of the period, oldest first (the last `limit` sessions)."""
    ordered = F("quantity_requested")
    confirmed = confirmed_expression(visible_ids)
    rows = (
        report_lines(scope=spec.scope, period=spec.period, product=spec.product)
        .values("order__session_id", "order__session__opens_at", "order__session__closes_at")
        .annotate(
            orders=Count("order", distinct=True),
            ordered_doses=Sum(doses_expression(ordered)),
            confirmed_doses=Sum(doses_expression(confirmed)),
        )
        .order_by("-order__session__opens_at")[:limit]
    )
    points = []
    for row in reversed(list(rows)):
        opens = timezone.localtime(row["order__session__opens_at"], PARIS)
        points.append(
            SeriesPoint(
                label=f"{opens:%d/%m/%Y}",
                detail=_session_label(row["order__session__opens_at"], row["order__session__closes_at"]),
                orders=row["orders"],
                ordered_doses=row["ordered_doses"] or 0,
                confirmed_doses=row["confirmed_doses"],
                published=row["order__session_id"] in visible_ids,
            )
        )
    return points


def doses_by_type(spec: ReportSpec, *, visible_ids: list[int]) -> list[SeriesPoint]:
    ordered = F("quantity_requested")
    confirmed = confirmed_expression(visible_ids)
    rows = (
        report_lines(scope=spec.scope, period=spec.period, product=spec.product)
        .values("effector__type_id", "effector__type__sort_order", "effector__type__label")
        .annotate(
            orders=Count("order", distinct=True),
            ordered_doses=Sum(doses_expression(ordered)),
            confirmed_doses=Sum(doses_expression(confirmed)),
        )
        .order_by("effector__type__sort_order", "effector__type__label")
    )
    return [
        SeriesPoint(
            label=row["effector__type__label"],
            detail=row["effector__type__label"],
            orders=row["orders"],
            ordered_doses=row["ordered_doses"] or 0,
            confirmed_doses=row["confirmed_doses"],
            published=row["confirmed_doses"] is not None,
        )
        for row in rows
    ]


# --- The detailed export: one row per order line ------------------------------------------------------

LINE_HEADERS = [
    "Session",
    "Référence de la commande",
    "Validée le",
    "FINESS",
    "Officine",
    "Code département",
    "Type de professionnel",
    "Produit",
    "Rang d'injection",
    "Unité",
    "Quantité commandée",
    "Flacons commandés",
    "Doses commandées",
    "Quantité confirmée",
    "Flacons confirmés",
    "Doses confirmées",
]
LINE_DATE_COLUMNS = (0, 2)
LINE_TEXT_COLUMNS = (1, 3, 4, 5, 6, 7, 8, 9)
LINE_NUMBER_COLUMNS = tuple(range(10, 16))


class AsReturned(ExpressionWrapper):
    """An integer expression whose PostgreSQL value is used as returned: Django would otherwise call int() on
    each value of each row (needed on SQLite only)."""

    def get_db_converters(self, connection):
        if connection.vendor == "postgresql":
            return []
        return super().get_db_converters(connection)


def _as_returned(expression: Expression) -> AsReturned:
    return AsReturned(expression, output_field=BigIntegerField())


class ParisDate(TruncDate):
    """The Paris day of a timestamp. PostgreSQL returns it as a date already: no Python converter then runs
    for each of a million rows (SQLite still needs TruncDate's)."""

    def get_db_converters(self, connection):
        if connection.vendor == "postgresql":
            return []
        return super().get_db_converters(connection)


def _labels(field_name: str, labels: dict, default: str) -> Case:
    return Case(
        *(When(**{field_name: key}, then=Value(label)) for key, label in labels.items()),
        default=Value(default),
        output_field=CharField(),
    )


def line_export_queryset(
    *, scope: ReportScope, period: ReportPeriod, at: datetime, product: Product | None = None
) -> QuerySet:
    """The order lines as flat tuples, everything computed by the database, labels included (so that a
    PostgreSQL COPY of the same query is a fair floor for the benchmark, and the rows need no work in
    Python). Effectors are given by type only: the ARS and SpF reports need no professional's name."""
    visible_ids = visible_session_ids(at=at)
    ordered = F("quantity_requested")
    confirmed = confirmed_expression(visible_ids)
    return (
        report_lines(scope=scope, period=period, product=product)
        .annotate(
            x_session_day=ParisDate("order__session__opens_at", tzinfo=PARIS),
            x_validated_day=ParisDate("order__validated_at", tzinfo=PARIS),
            x_rank=_labels("injection_rank", {k: v for k, v in RANK_LABELS.items() if v}, ""),
            x_unit=_labels("product__unit", UNIT_LABELS, ""),
            x_ordered_vials=_as_returned(vials_expression(ordered)),
            x_ordered_doses=_as_returned(doses_expression(ordered)),
            x_confirmed=_as_returned(confirmed),
            x_confirmed_vials=_as_returned(vials_expression(confirmed)),
            x_confirmed_doses=_as_returned(doses_expression(confirmed)),
        )
        .values_list(
            "x_session_day",
            "order__reference",
            "x_validated_day",
            "order__pharmacy__finess",
            "order__pharmacy__name",
            "order__pharmacy__department__code",
            "effector__type__label",
            "product__name",
            "x_rank",
            "x_unit",
            "quantity_requested",
            "x_ordered_vials",
            "x_ordered_doses",
            "x_confirmed",
            "x_confirmed_vials",
            "x_confirmed_doses",
        )
        # The order of the sessions and officines, then the pk: a stable order an index can serve.
        .order_by("order__session__opens_at", "order_id", "pk")
    )


def streamed(queryset: QuerySet, *, chunk_size: int = 2000) -> Iterator:
    """The rows of `queryset` from a server-side cursor, `chunk_size` at a time: memory stays flat whatever
    the number of rows.

    Inside a transaction on purpose: outside one, Django declares the cursor WITH HOLD, and PostgreSQL then
    runs the whole query and stores its result before sending the first row (seconds for a million lines).
    Within the transaction the rows flow as they are produced. The transaction only reads; it ends when the
    last row is sent, or when the download is abandoned (the generator is closed)."""
    with transaction.atomic():
        yield from queryset.iterator(chunk_size=chunk_size)


def line_export_rows(queryset: QuerySet, *, chunk_size: int = 2000) -> Iterator[tuple]:
    """The lines as the files show them (the query computed every column)."""
    return streamed(queryset, chunk_size=chunk_size)


# --- The requisition extract -----------------------------------------------------------------------------

REQUISITION_HEADERS = [
    "Code département",
    "FINESS",
    "Officine",
    "Adresse",
    "Code postal",
    "Commune",
    "Téléphone",
    "E-mail",
    "Quantité commandée",
    "Quantité confirmée",
    "Flacons confirmés",
    "Doses confirmées",
]


def requisition_queryset(*, scope: ReportScope, period: ReportPeriod, product: Product, at: datetime) -> QuerySet:
    """Every officine that ordered `product` in the period, with its contact details and its quantities
    (confirmed ones once published), by department and commune."""
    visible_ids = visible_session_ids(at=at)
    confirmed = confirmed_expression(visible_ids)
    return (
        report_lines(scope=scope, period=period, product=product)
        .values(
            "order__pharmacy_id",
            "order__pharmacy__department__code",
            "order__pharmacy__finess",
            "order__pharmacy__name",
            "order__pharmacy__address",
            "order__pharmacy__postal_code",
            "order__pharmacy__city",
            "order__pharmacy__phone",
            "order__pharmacy__email",
        )
        .annotate(
            ordered_quantity=Sum("quantity_requested"),
            confirmed_quantity=Sum(confirmed),
            confirmed_vials=Sum(vials_expression(confirmed)),
            confirmed_doses=Sum(doses_expression(confirmed)),
        )
        .order_by("order__pharmacy__department__code", "order__pharmacy__city", "order__pharmacy__name")
    )


def requisition_row(values: dict) -> tuple:
    return (
        values["order__pharmacy__department__code"],
        values["order__pharmacy__finess"],
        values["order__pharmacy__name"],
        values["order__pharmacy__address"],
        values["order__pharmacy__postal_code"],
        values["order__pharmacy__city"],
        values["order__pharmacy__phone"],
        values["order__pharmacy__email"],
        values["ordered_quantity"],
        values["confirmed_quantity"],
        values["confirmed_vials"],
        values["confirmed_doses"],
    )


def requisition_rows(queryset: QuerySet, *, chunk_size: int = 2000) -> Iterator[tuple]:
    for values in streamed(queryset, chunk_size=chunk_size):
        yield requisition_row(values)


# --- Daily reports ----------------------------------------------------------------------------------------


def daily_reports_oldest_day(*, today: date) -> date:
    return today - timedelta(days=DAILY_REPORTS_KEPT_DAYS)


def daily_reports_for(*, user: User, today: date, region: Region | None = None) -> QuerySet[DailyReport]:
    """The stored daily reports the user may download: their region's (ARS), or every region's (SpF),
    for the last 90 days."""
    reports = DailyReport.objects.select_related("region").filter(day__gte=daily_reports_oldest_day(today=today))
    restricted = user_region_id(user)
    if restricted is not None:
        reports = reports.filter(region_id=restricted)
    elif region is not None:
        reports = reports.filter(region=region)
    return reports.order_by("-day", "region__name")


def daily_report_for(*, user: User, pk: int, today: date) -> DailyReport | None:
    return daily_reports_for(user=user, today=today).filter(pk=pk).first()


def effector_types() -> QuerySet[EffectorType]:
    return EffectorType.objects.order_by("sort_order", "label")
