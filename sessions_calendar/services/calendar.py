"""The calendar: generating a run of weekly sessions, and creating or editing one session by hand.

All instants are computed as Paris wall-clock times (zoneinfo) and stored in UTC, so a session keeps
"Monday 08:00" on both sides of a daylight-saving change. The guards (no overlap, closing after opening,
no change to the window of a session already closed) live here and are re-checked under lock; on
PostgreSQL an exclusion constraint settles the race between two staff members saving at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from django.db import IntegrityError, OperationalError, models, transaction
from django.utils import timezone

from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record

from ..errors import MESSAGES, SessionError
from ..formatting import day_month, day_range, local_instant, long_date
from ..models import OrderSession, PilotGroup

PARIS = ZoneInfo("Europe/Paris")
MAX_WEEKS = 104  # two years per run: a typo in the end date must not create a thousand sessions


class Rhythm(models.TextChoices):
    WEEKLY = "weekly", "Chaque semaine"
    BIWEEKLY = "biweekly", "Une semaine sur deux (les autres semaines sont fermées)"


class HolidayPolicy(models.TextChoices):
    SHIFT = "shift", "Décaler au jour suivant (ouverture, fermeture, confirmations, livraison)"
    FLAG = "flag", "Garder les dates et signaler le jour férié sur le calendrier"


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def paris_instant(day: date, at: time) -> datetime:
    """The instant of a Paris wall-clock time (zoneinfo applies the offset in force that day), in UTC:
    Python subtracts two datetimes of the same zone as wall-clock times, which is wrong across a change."""
    return datetime.combine(day, at, tzinfo=PARIS).astimezone(UTC)


@lru_cache(maxsize=64)
def _holidays_of(year: int) -> dict[date, str]:
    import holidays  # imported here: the Celery worker loads this module and rarely needs the holiday tables

    return dict(holidays.country_holidays("FR", years=[year], language="fr"))


def holiday_name(day: date) -> str | None:
    """The French national public holiday of `day` (Alsace-Moselle's extra days are not national)."""
    return _holidays_of(day.year).get(day)


def _past_holidays(day: date, *, closed_weekdays: frozenset[int]) -> date:
    """`day` if it is not a public holiday; otherwise the next day that is neither a holiday nor one of
    `closed_weekdays` (Sunday for ordering, the weekend for deliveries)."""
    if not holiday_name(day):
        return day
    while holiday_name(day) or day.weekday() in closed_weekdays:
        day += timedelta(days=1)
    return day


def _past_weekend(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


SUNDAY = frozenset({6})
WEEKEND = frozenset({5, 6})


@dataclass(frozen=True)
class CalendarSpec:
    """What the generation form asks. Days are counted from the opening day ("J")."""

    first_week: date
    last_week: date
    rhythm: str = Rhythm.WEEKLY
    closed_weeks: frozenset[date] = frozenset()
    opening_weekday: int = 0  # Monday
    opening_time: time = time(8)
    closing_after_days: int = 1  # Tuesday
    closing_time: time = time(23)
    confirmation_after_days: int = 1  # the day after closing: Wednesday
    confirmation_time: time = time(18)
    delivery_start_after_days: int = 10  # J+10: Thursday of the following week
    delivery_end_after_days: int = 11  # Friday
    holiday_policy: str = HolidayPolicy.SHIFT
    pilot_group_id: int | None = None


@dataclass
class PlannedSession:
    week: date
    opens_at: datetime
    closes_at: datetime
    is_closed_week: bool
    confirmation_published_at: datetime | None = None
    delivery_start: date | None = None
    delivery_end: date | None = None
    holiday_note: str = ""
    conflicts: list[OrderSession] = field(default_factory=list)

    @property
    def dates_label(self) -> str:
        return day_range(timezone.localtime(self.opens_at).date(), timezone.localtime(self.closes_at).date())

    @property
    def delivery_label(self) -> str:
        if self.delivery_start is None or self.delivery_end is None:
            return ""
        return day_range(self.delivery_start, self.delivery_end)


def _check_spec(spec: CalendarSpec) -> None:
    field_errors: dict[str, list[str]] = {}

    def refuse(name: str, message: str) -> None:
        field_errors.setdefault(name, []).append(message)

    first, last = monday_of(spec.first_week), monday_of(spec.last_week)
    if last < first:
        refuse("last_week", "La dernière semaine doit suivre la première.")
    elif (last - first).days // 7 + 1 > MAX_WEEKS:
        refuse("last_week", f"Au plus {MAX_WEEKS} semaines par génération : réduisez la période.")
    for week in sorted(spec.closed_weeks):
        if not first <= monday_of(week) <= last:
            refuse(
                "closed_weeks",
                f"La semaine fermée du {day_month(monday_of(week), year=True)} est en dehors de la période.",
            )
    if not 0 <= spec.opening_weekday <= 6:
        refuse("opening_weekday", "Jour d'ouverture inconnu.")
    if spec.closing_after_days < 0 or (spec.closing_after_days == 0 and spec.closing_time <= spec.opening_time):
        refuse("closing_after_days", "La fermeture doit être postérieure à l'ouverture.")
    if spec.closing_after_days > 6:
        refuse("closing_after_days", "Une session dure moins d'une semaine : au plus 6 jours après l'ouverture.")
    if spec.confirmation_after_days < 0 or (
        spec.confirmation_after_days == 0 and spec.confirmation_time < spec.closing_time
    ):
        refuse("confirmation_after_days", "Les confirmations ne peuvent pas être publiées avant la fermeture.")
    if spec.delivery_start_after_days <= spec.closing_after_days:
        refuse("delivery_start_after_days", "La livraison indicative doit commencer après la fermeture.")
    if spec.delivery_end_after_days < spec.delivery_start_after_days:
        refuse("delivery_end_after_days", "La fin de la livraison indicative précède son début.")
    if field_errors:
        raise SessionError(
            "Le calendrier n'a pas été généré : corrigez les points signalés.",
            errors=[m for messages in field_errors.values() for m in messages],
            field_errors=field_errors,
        )


def _plan_open_week(spec: CalendarSpec, week: date) -> PlannedSession:
    day0 = week + timedelta(days=spec.opening_weekday)
    opening_day = day0
    closing_day = day0 + timedelta(days=spec.closing_after_days)
    notes: list[str] = []
    shift = spec.holiday_policy == HolidayPolicy.SHIFT

    if shift:
        opening_day = _past_holidays(day0, closed_weekdays=SUNDAY)
        if opening_day != day0:
            notes.append(
                f"{holiday_name(day0)} ({day_month(day0)}) : ouverture décalée au {long_date(opening_day, year=False)}"
            )
        moved = closing_day + (opening_day - day0)
        closing_day = _past_holidays(moved, closed_weekdays=SUNDAY)
        if closing_day != moved:
            notes.append(
                f"{holiday_name(moved)} ({day_month(moved)}) : fermeture reportée au "
                f"{long_date(closing_day, year=False)}"
            )
    else:
        day = opening_day
        while day <= closing_day:
            if name := holiday_name(day):
                notes.append(f"{name} ({long_date(day, year=False)}) pendant la session")
            day += timedelta(days=1)

    delta = opening_day - day0
    confirmation_day = closing_day + timedelta(days=spec.confirmation_after_days)
    delivery_start = day0 + delta + timedelta(days=spec.delivery_start_after_days)
    delivery_end = day0 + delta + timedelta(days=spec.delivery_end_after_days)
    if shift:
        moved = confirmation_day
        confirmation_day = _past_holidays(confirmation_day, closed_weekdays=SUNDAY)
        if confirmation_day != moved:
            notes.append(f"{holiday_name(moved)} : confirmations publiées le {long_date(confirmation_day, year=False)}")
        if delta:  # the whole chain starts later: deliveries follow, on weekdays
            delivery_start, delivery_end = _past_weekend(delivery_start), _past_weekend(delivery_end)
        moved_start, moved_end = delivery_start, delivery_end
        delivery_start = _past_holidays(delivery_start, closed_weekdays=WEEKEND)
        delivery_end = max(_past_holidays(delivery_end, closed_weekdays=WEEKEND), delivery_start)
        for original in sorted({moved_start, moved_end}):
            if name := holiday_name(original):
                notes.append(f"{name} ({day_month(original)}) : livraison indicative décalée")
    else:
        for day in sorted({confirmation_day, delivery_start, delivery_end}):
            if name := holiday_name(day):
                notes.append(f"{name} ({long_date(day, year=False)}) : confirmations ou livraison ce jour férié")

    opens_at = paris_instant(opening_day, spec.opening_time)
    closes_at = paris_instant(closing_day, spec.closing_time)
    confirmation = max(paris_instant(confirmation_day, spec.confirmation_time), closes_at)
    return PlannedSession(
        week=week,
        opens_at=opens_at,
        closes_at=closes_at,
        is_closed_week=False,
        confirmation_published_at=confirmation,
        delivery_start=delivery_start,
        delivery_end=delivery_end,
        holiday_note=" ; ".join(notes)[:255],
    )


def _plan_closed_week(spec: CalendarSpec, week: date) -> PlannedSession:
    # A closed week keeps the slot the session would have had, so that the published calendar shows
    # "31 juillet – 1er août : Fermé" at the right place and nobody can create a session over it unseen.
    day0 = week + timedelta(days=spec.opening_weekday)
    return PlannedSession(
        week=week,
        opens_at=paris_instant(day0, spec.opening_time),
        closes_at=paris_instant(day0 + timedelta(days=spec.closing_after_days), spec.closing_time),
        is_closed_week=True,
    )


def calendar_plan(*, spec: CalendarSpec) -> list[PlannedSession]:
    """The sessions a generation would create, with the existing sessions each one would overlap.

    Writes nothing: the admin shows this as the preview.
    """
    _check_spec(spec)
    first, last = monday_of(spec.first_week), monday_of(spec.last_week)
    closed = {monday_of(day) for day in spec.closed_weeks}
    planned: list[PlannedSession] = []
    week, index = first, 0
    while week <= last:
        off_week = spec.rhythm == Rhythm.BIWEEKLY and index % 2 == 1
        if week in closed or off_week:
            planned.append(_plan_closed_week(spec, week))
        else:
            planned.append(_plan_open_week(spec, week))
        week += timedelta(weeks=1)
        index += 1

    existing = list(
        OrderSession.objects.filter(opens_at__lt=planned[-1].closes_at, closes_at__gt=planned[0].opens_at).order_by(
            "opens_at"
        )
    )
    for item in planned:
        item.conflicts = [s for s in existing if s.opens_at < item.closes_at and item.opens_at < s.closes_at]
    for previous, item in pairwise(planned):
        if item.opens_at < previous.closes_at:
            raise SessionError(
                "Les sessions générées se chevauchent : raccourcissez la durée d'ouverture.",
                errors=[f"La session du {item.dates_label} commence avant la fin de celle du {previous.dates_label}."],
            )
    return planned


def calendar_generate(*, spec: CalendarSpec, actor: Actor) -> list[OrderSession]:
    """Create the planned sessions (open weeks and closed weeks), all or nothing, audited one by one."""
    pilot_group = PilotGroup.objects.get(pk=spec.pilot_group_id) if spec.pilot_group_id else None
    with transaction.atomic():
        planned = calendar_plan(spec=spec)
        conflicts = [item for item in planned if item.conflicts]
        if conflicts:
            raise SessionError(
                "Aucune session n'a été créée : certaines semaines ont déjà une session.",
                errors=[
                    MESSAGES["overlap"].format(
                        other=str(item.conflicts[0]).lower(),
                        opens=local_instant(item.conflicts[0].opens_at),
                        closes=local_instant(item.conflicts[0].closes_at),
                    )
                    + f" (semaine du {day_month(item.week, year=True)})"
                    for item in conflicts
                ],
            )
        sessions = []
        for item in planned:
            session = OrderSession(
                opens_at=item.opens_at,
                closes_at=item.closes_at,
                confirmation_published_at=item.confirmation_published_at,
                delivery_start=item.delivery_start,
                delivery_end=item.delivery_end,
                is_closed_week=item.is_closed_week,
                holiday_note=item.holiday_note,
                pilot_group=None if item.is_closed_week else pilot_group,
            )
            _save_guarded(session)
            audit_record(
                actor=actor,
                action="session.generate",
                target=session,
                summary=("Semaine fermée" if session.is_closed_week else "Session ouverte")
                + f" générée par le calendrier ({len(planned)} semaines à partir du "
                f"{day_month(planned[0].week, year=True)}).",
                after=session_snapshot(session),
            )
            sessions.append(session)
    return sessions


# --- one session by hand --------------------------------------------------------------------------

EDITABLE_FIELDS = (
    "opens_at",
    "closes_at",
    "confirmation_published_at",
    "delivery_start",
    "delivery_end",
    "is_closed_week",
    "pilot_group",
    "holiday_note",
    "notes",
)


def session_snapshot(session: OrderSession) -> dict:
    return {
        "opens_at": session.opens_at.isoformat(),
        "closes_at": session.closes_at.isoformat(),
        "confirmation_published_at": session.confirmation_published_at.isoformat()
        if session.confirmation_published_at
        else None,
        "delivery_start": session.delivery_start.isoformat() if session.delivery_start else None,
        "delivery_end": session.delivery_end.isoformat() if session.delivery_end else None,
        "is_closed_week": session.is_closed_week,
        "pilot_group_id": session.pilot_group_id,
        "holiday_note": session.holiday_note,
        "notes": session.notes,
    }


def session_check(*, session: OrderSession, now: datetime | None = None) -> None:
    """Every reason why `session` (a new one, or an existing one with edited fields) cannot be saved.

    Raises SessionError whose field_errors name the model fields. Reads the stored row (if any) to apply
    the rules that depend on what changes.
    """
    now = now or timezone.now()
    field_errors: dict[str, list[str]] = {}

    def refuse(name: str, message: str) -> None:
        field_errors.setdefault(name, []).append(message)

    if session.opens_at and session.closes_at and session.closes_at <= session.opens_at:
        refuse(
            "closes_at",
            MESSAGES["closes_before_opening"].format(
                closes=local_instant(session.closes_at), opens=local_instant(session.opens_at)
            ),
        )
    if (
        session.confirmation_published_at
        and session.closes_at
        and session.confirmation_published_at < session.closes_at
    ):
        refuse(
            "confirmation_published_at",
            MESSAGES["confirmation_before_closing"].format(
                confirmation=local_instant(session.confirmation_published_at), closes=local_instant(session.closes_at)
            ),
        )
    if session.delivery_start and session.delivery_end and session.delivery_end < session.delivery_start:
        refuse(
            "delivery_end",
            MESSAGES["delivery_end_before_start"].format(
                end=day_month(session.delivery_end, year=True), start=day_month(session.delivery_start, year=True)
            ),
        )

    stored = OrderSession.objects.filter(pk=session.pk).first() if session.pk else None
    if stored is not None:
        window_changed = stored.opens_at != session.opens_at or stored.closes_at != session.closes_at
        if window_changed and stored.closes_at <= now:
            refuse("closes_at", MESSAGES["closed_session_window"].format(closed=local_instant(stored.closes_at)))
        if session.is_closed_week and not stored.is_closed_week:
            if stored.orders.exists():
                refuse("is_closed_week", MESSAGES["closed_week_with_orders"])
            elif stored.offers.exists():
                refuse("is_closed_week", MESSAGES["closed_week_with_offers"])

    if session.opens_at and session.closes_at and session.closes_at > session.opens_at:
        other = (
            OrderSession.objects.filter(opens_at__lt=session.closes_at, closes_at__gt=session.opens_at)
            .exclude(pk=session.pk)
            .order_by("opens_at")
            .first()
        )
        if other is not None:
            refuse(
                "opens_at",
                MESSAGES["overlap"].format(
                    other=str(other).lower(),
                    opens=local_instant(other.opens_at),
                    closes=local_instant(other.closes_at),
                ),
            )
    if field_errors:
        errors = [m for messages in field_errors.values() for m in messages]
        raise SessionError(
            errors[0] if len(errors) == 1 else "La session n'a pas été enregistrée : corrigez les points signalés.",
            errors=errors,
            field_errors=field_errors,
        )


def _save_guarded(session: OrderSession) -> None:
    """Save, turning the PostgreSQL overlap exclusion (a concurrent save won) into the French message."""
    race = SessionError(MESSAGES["overlap_race"], field_errors={"opens_at": [MESSAGES["overlap_race"]]})
    try:
        with transaction.atomic():
            session.save()
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or str(exc)
        if "session_no_overlap" in constraint:
            raise race from exc
        raise
    except OperationalError as exc:
        # Two overlapping rows inserted at the same instant: each transaction's exclusion check waits for the
        # other, and PostgreSQL's deadlock detector aborts one of them (the savepoint above undoes its row).
        # That loser is told exactly what the constraint would have told it.
        if getattr(exc.__cause__, "sqlstate", None) == "40P01":
            raise race from exc
        raise


def session_save(*, session: OrderSession, actor: Actor, now: datetime | None = None) -> OrderSession:
    """Create or update one session after the guards, under a lock on the stored row; audited."""
    with transaction.atomic():
        before = None
        if session.pk:
            # Two staff members editing the same session: the second waits, then is checked against the first.
            stored = OrderSession.objects.select_for_update().get(pk=session.pk)
            before = session_snapshot(stored)
        session_check(session=session, now=now)
        created = session.pk is None
        _save_guarded(session)
        after = session_snapshot(session)
        if created or before != after:
            changed = [name for name in after if before is None or before[name] != after[name]]
            audit_record(
                actor=actor,
                action="session.create" if created else "session.update",
                target=session,
                summary="Session créée." if created else "Session modifiée : " + ", ".join(changed) + ".",
                before=before,
                after=after,
            )
    return session
