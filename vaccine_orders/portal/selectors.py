"""Reading the portal's data: news, service switches, support requests, an officine's file for support."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import BooleanField, CharField, F, Prefetch, Q, QuerySet, Value

from vaccine_orders.precompiled import PrecompiledQuery

from .models import HelpDocument, NewsItem, ServiceSettings, SupportMessage, SupportRequest

if TYPE_CHECKING:
    from accounts.models import Pharmacy
    from effectors.models import Attachment
    from sessions_calendar.models import OrderSession
    from vaccine_orders.orders.models import Order

DEFAULT_READ_ONLY_MESSAGE = ServiceSettings._meta.get_field("read_only_message").default
DEFAULT_PSC_UNAVAILABLE_MESSAGE = ServiceSettings._meta.get_field("psc_unavailable_message").default


def news_visible(*, at: datetime) -> QuerySet[NewsItem]:
    return NewsItem.objects.filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at), starts_at__lte=at)


@dataclass(frozen=True)
class ServiceSwitches:
    """The switches SpF flips in the admin that decide who may change orders right now."""

    pilot_group_id: int | None  # the whole service is restricted to this pilot group
    read_only_message: str | None  # the maintenance message while the service is read-only, else None


# Compiled once per process (vaccine_orders.precompiled): read on every pharmacy page.
_SWITCHES = PrecompiledQuery(
    lambda: (
        ServiceSettings.objects.filter(pk=1).order_by().values_list("pilot_group_id", "read_only", "read_only_message")
    )
)


def service_switches() -> ServiceSwitches:
    """Both switches in one query. Read from the database every time (one indexed row, no cache): a switch
    flipped in the admin holds at once in every process."""
    rows = _SWITCHES.rows()
    if not rows:
        return ServiceSwitches(pilot_group_id=None, read_only_message=None)
    ((pilot_group_id, read_only, message),) = rows
    return ServiceSwitches(
        pilot_group_id=pilot_group_id,
        read_only_message=(message.strip() or DEFAULT_READ_ONLY_MESSAGE) if read_only else None,
    )


def service_read_only_message() -> str | None:
    """The maintenance message while SpF has put the service in read-only mode, else None: the ordering
    service refuses any change to an order with it."""
    return service_switches().read_only_message


@dataclass(frozen=True)
class UrgentNews:
    id: int
    title: str
    body: str


@dataclass(frozen=True)
class Banners:
    read_only_message: str | None
    psc_unavailable_message: str | None
    urgent_news: tuple[UrgentNews, ...]

    def __bool__(self) -> bool:
        return bool(self.read_only_message or self.psc_unavailable_message or self.urgent_news)


BANNER_COLUMNS = ("row_kind", "row_id", "flag_read_only", "flag_psc", "text_1", "text_2", "moment")


def _banner_rows(at: datetime) -> QuerySet:
    """The service switches and the urgent news in publication at `at`, read together with UNION ALL (rows
    tagged "s" for settings, "n" for news)."""
    # Both sides are built from annotations with the same names, added in the same order, so that the
    # columns line up whatever Django does with plain fields in a values_list().
    switches = (
        ServiceSettings.objects.filter(pk=1)
        .annotate(
            row_kind=Value("s", output_field=CharField()),
            row_id=F("id"),
            flag_read_only=F("read_only"),
            flag_psc=F("psc_unavailable"),
            text_1=F("read_only_message"),
            text_2=F("psc_unavailable_message"),
            moment=F("updated_at"),
        )
        .order_by()
        .values_list(*BANNER_COLUMNS)
    )
    urgent = (
        news_visible(at=at)
        .filter(is_urgent=True)
        .annotate(
            row_kind=Value("n", output_field=CharField()),
            row_id=F("id"),
            flag_read_only=Value(False, output_field=BooleanField()),
            flag_psc=Value(False, output_field=BooleanField()),
            text_1=F("title"),
            text_2=F("body"),
            moment=F("starts_at"),
        )
        .order_by()
        .values_list(*BANNER_COLUMNS)
    )
    return switches.union(urgent, all=True)


# Every HTML page shows the banners: compiled once per process (compiling the union cost three times as much as
# running it).
_BANNER_ROWS = PrecompiledQuery(_banner_rows, "at", datetimes=("at",))


def banners_current(*, at: datetime) -> Banners:
    """Everything the banners of every page show, in ONE query."""
    rows = _BANNER_ROWS.rows(at=at)
    read_only_message = psc_message = None
    news: list[tuple[datetime, UrgentNews]] = []
    for kind, pk, read_only, psc_unavailable, first_text, second_text, moment in rows:
        if kind == "s":
            if read_only:
                read_only_message = first_text.strip() or DEFAULT_READ_ONLY_MESSAGE
            if psc_unavailable:
                psc_message = second_text.strip() or DEFAULT_PSC_UNAVAILABLE_MESSAGE
        else:
            news.append((moment, UrgentNews(id=pk, title=first_text, body=second_text)))
    news.sort(key=lambda pair: (pair[0], pair[1].id), reverse=True)
    return Banners(
        read_only_message=read_only_message,
        psc_unavailable_message=psc_message,
        urgent_news=tuple(item for _, item in news),
    )


# --- support -------------------------------------------------------------------------------------


def support_context_for(*, pharmacy: Pharmacy, at: datetime) -> tuple[OrderSession | None, Order | None]:
    """What a logged-in officine's request carries automatically: the session open now and the
    officine's order in it (either may not exist)."""
    from sessions_calendar.selectors import session_current
    from vaccine_orders.orders.models import Order

    session = session_current(at=at)
    if session is None:
        return None, None
    order = Order.objects.filter(pharmacy=pharmacy, session=session).first()
    return session, order


def support_requests_of_pharmacy(*, pharmacy: Pharmacy) -> QuerySet[SupportRequest]:
    return SupportRequest.objects.filter(pharmacy=pharmacy).order_by("-created_at", "-id")


def support_request_of_pharmacy(*, pharmacy: Pharmacy, reference: str) -> SupportRequest | None:
    """One of the officine's own requests with the replies it may read (internal notes are left out
    here, in the query, so that no template can show them by mistake)."""
    replies = SupportMessage.objects.filter(kind=SupportMessage.Kind.REPLY).order_by("created_at", "id")
    return (
        SupportRequest.objects.filter(pharmacy=pharmacy, reference=reference)
        .select_related("session", "order")
        .prefetch_related(Prefetch("messages", queryset=replies, to_attr="replies"))
        .first()
    )


def support_overdue(*, at: datetime) -> QuerySet[SupportRequest]:
    return SupportRequest.objects.filter(
        status__in=SupportRequest.OPEN_STATUSES, first_answered_at__isnull=True, due_at__lt=at
    )


def help_documents_published() -> QuerySet[HelpDocument]:
    return HelpDocument.objects.filter(is_published=True)


# --- the officine's file, read by support -----------------------------------------------------------


@dataclass(frozen=True)
class PharmacyFile:
    pharmacy: Pharmacy
    attachments: list[Attachment]
    orders: list[Order]


PHARMACY_FILE_ORDERS = 10


def pharmacy_file_for_support(*, pharmacy: Pharmacy) -> PharmacyFile:
    """The officine's effectors attached now and its latest orders with their lines, for the support's
    read-only page. A fixed number of queries whatever the size of the officine."""
    from effectors.models import Attachment
    from vaccine_orders.orders.models import Order, OrderLine

    attachments = list(
        Attachment.objects.filter(pharmacy=pharmacy, detached_at__isnull=True)
        .select_related("effector__type", "effector__professional", "effector__establishment")
        .order_by("effector__type__sort_order", "effector__type__label", "attached_at", "id")
    )
    lines = OrderLine.objects.select_related(
        "product", "effector__type", "effector__professional", "effector__establishment"
    ).order_by("effector_id", "product__sort_order", "injection_rank")
    orders = list(
        Order.objects.filter(pharmacy=pharmacy)
        .select_related("session")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .order_by("-session__opens_at")[:PHARMACY_FILE_ORDERS]
    )
    return PharmacyFile(pharmacy=pharmacy, attachments=attachments, orders=orders)
