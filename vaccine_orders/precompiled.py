"""Hot read queries written with the ORM and compiled to SQL once per process.

On the ordering path (grid, recap, "Valider"), Django spent more CPU turning a queryset into SQL (0.4–0.6 ms
each, measured with process_time on this project's grid queries) than PostgreSQL spent running it (~0.1 ms).
A PrecompiledQuery keeps the query in the ORM — tables, joins, quoting and lookups come from the models, on
SQLite as on PostgreSQL — but compiles it once per database connection alias, then runs the cached SQL with
each call's parameters.

How the parameters are found: the queryset is built once with a distinct sentinel for each named parameter (an
integer, or for the names listed in `datetimes` an aware datetime of 1901); the compiled parameter list then says
which position takes which value. A datetime goes through the backend's own adaptation at each call, as the ORM
would adapt it (SQLite stores UTC text, PostgreSQL takes the aware value). A parameter the ORM would inline into
the SQL text, or transform, is not found, and the first call fails loudly (tests catch it).

For `values_list` querysets: rows are tuples, with Django's converters applied as the ORM would (SQLite's
booleans and dates, for instance); the caller builds model instances with `Model.from_db` if it needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model, QuerySet

# Far below any primary key or quantity (ids are positive), and within a bigint.
_SENTINEL_BASE = -7_300_000_000_000_000_000
# Long before the service existed: no instant a query compares with is this one.
_DATETIME_SENTINEL_BASE = datetime(1901, 1, 1, tzinfo=UTC)


class PrecompiledQuery:
    def __init__(self, build: Callable[..., QuerySet], *names: str, datetimes: Collection[str] = ()) -> None:
        """`build(**{name: value})` returns the queryset; each name is an integer parameter (an id), except the
        names also listed in `datetimes`, which are aware datetimes."""
        unknown = set(datetimes) - set(names)
        if unknown:
            raise ImproperlyConfigured(f"datetime parameters not among the names: {', '.join(sorted(unknown))}")
        self._build = build
        self._names = names
        self._datetimes = frozenset(datetimes)
        self._compiled: dict[str, tuple] = {}

    def _compile(self, using: str) -> tuple[str, list[tuple[str | None, object]], list[tuple]]:
        ops = connections[using].ops
        sentinels: dict[str, object] = {}
        names_by_sentinel: dict[object, str] = {}  # the sentinel as it appears in the compiled parameters
        for index, name in enumerate(self._names):
            if name in self._datetimes:
                sentinels[name] = _DATETIME_SENTINEL_BASE + timedelta(microseconds=index + 1)
                names_by_sentinel[ops.adapt_datetimefield_value(sentinels[name])] = name
            else:
                sentinels[name] = _SENTINEL_BASE - index
                names_by_sentinel[sentinels[name]] = name
        # In a transaction: the ORM refuses to compile select_for_update() outside one. No statement runs here.
        with transaction.atomic(using=using, savepoint=False):
            compiler = self._build(**sentinels).query.get_compiler(using=using)
            sql, params = compiler.as_sql()
            converters = [
                (index, functions, expression)
                for index, (functions, expression) in compiler.get_converters([c[0] for c in compiler.select]).items()
            ]
        # (name, None) takes the call's value; (None, constant) is a constant of the query itself. A boolean
        # constant must not pass for an integer sentinel (True == 1), hence the exact type test.
        slots = [
            (names_by_sentinel[p], None) if type(p) in (int, datetime, str) and p in names_by_sentinel else (None, p)
            for p in params
        ]
        missing = set(self._names) - {name for name, _ in slots}
        if missing:
            raise ImproperlyConfigured(f"parameters not found in the compiled query: {', '.join(sorted(missing))}")
        return sql, slots, converters

    def sql(self, using: str = DEFAULT_DB_ALIAS) -> str:
        if using not in self._compiled:
            self._compiled[using] = self._compile(using)
        return self._compiled[using][0]

    def rows(self, using: str = DEFAULT_DB_ALIAS, **values: int | datetime) -> list[tuple]:
        if using not in self._compiled:
            self._compiled[using] = self._compile(using)
        sql, slots, converters = self._compiled[using]
        connection = connections[using]
        if self._datetimes:
            values = {
                name: connection.ops.adapt_datetimefield_value(value) if name in self._datetimes else value
                for name, value in values.items()
            }
        params = [values[name] if name is not None else constant for name, constant in slots]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if not converters:  # PostgreSQL's integers, text and booleans need none
            return rows
        converted = []
        for row in rows:
            row = list(row)
            for index, functions, expression in converters:
                for function in functions:
                    row[index] = function(row[index], expression, connection)
            converted.append(tuple(row))
        return converted


class PrecompiledGet:
    """One model instance by primary key, every field loaded (as the ORM's get() would), through a
    PrecompiledQuery: for the rows read on every request of the ordering path (the officine, the session)."""

    def __init__(self, model: type[Model]) -> None:
        self._model = model
        self._fields = [field.attname for field in model._meta.concrete_fields]
        self._query = PrecompiledQuery(
            lambda pk: model._default_manager.filter(pk=pk).order_by().values_list(*self._fields), "pk"
        )

    def get(self, pk: int) -> Model | None:
        rows = self._query.rows(pk=pk)
        return self._model.from_db(DEFAULT_DB_ALIAS, self._fields, rows[0]) if rows else None
