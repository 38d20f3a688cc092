"""Hot queries of the ordering path written once per process: reads compiled from the ORM, and inserts.

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

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import AutoField, BigAutoField, Model, QuerySet, SmallAutoField
from django.db.models.sql import UpdateQuery
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

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

    def _compiler(self, sentinels: dict[str, object], using: str) -> SQLCompiler:
        return self._build(**sentinels).query.get_compiler(using=using)

    def _compile(self, using: str) -> tuple[str, list[tuple[str | None, object, type | None]], list[tuple]]:
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
            compiler = self._compiler(sentinels, using)
            sql, params = compiler.as_sql()
            converters = [
                (index, functions, expression)
                for index, (functions, expression) in compiler.get_converters(
                    [c[0] for c in compiler.select or ()]
                ).items()
            ]
        # (name, None, cast) takes the call's value; (None, constant, None) is a constant of the query itself. A
        # boolean constant must not pass for an integer sentinel (True == 1), hence the type tests. An integer
        # the ORM typed for the driver (psycopg's Int4 in an expression, with parameters bound on the server)
        # keeps that type: `cast` applies it to the call's value.
        slots: list[tuple[str | None, object, type | None]] = []
        for p in params:
            if type(p) in (int, datetime, str) and p in names_by_sentinel:
                slots.append((names_by_sentinel[p], None, None))
            elif isinstance(p, int) and not isinstance(p, bool) and p in names_by_sentinel:
                slots.append((names_by_sentinel[p], None, type(p)))
            else:
                slots.append((None, p, None))
        missing = set(self._names) - {name for name, _, _ in slots}
        if missing:
            raise ImproperlyConfigured(f"parameters not found in the compiled query: {', '.join(sorted(missing))}")
        return sql, slots, converters

    def sql(self, using: str = DEFAULT_DB_ALIAS) -> str:
        if using not in self._compiled:
            self._compiled[using] = self._compile(using)
        return self._compiled[using][0]

    def _params(self, using: str, values: dict[str, int | datetime]) -> tuple[str, list, list[tuple]]:
        if using not in self._compiled:
            self._compiled[using] = self._compile(using)
        sql, slots, converters = self._compiled[using]
        if self._datetimes:
            ops = connections[using].ops
            values = {
                name: ops.adapt_datetimefield_value(value) if name in self._datetimes else value
                for name, value in values.items()
            }
        params = [
            constant if name is None else values[name] if cast is None else cast(values[name])
            for name, constant, cast in slots
        ]
        return sql, params, converters

    def rows(self, using: str = DEFAULT_DB_ALIAS, **values: int | datetime) -> list[tuple]:
        sql, params, converters = self._params(using, values)
        connection = connections[using]
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


class PrecompiledUpdate(PrecompiledQuery):
    """An UPDATE written with the ORM, compiled once per process like a PrecompiledQuery: `build(**{name: value})`
    returns the filtered queryset and the values its update() would take (F() expressions included). For the
    conditional updates of the ordering path, where building the update cost the ORM more than running it."""

    def _compiler(self, sentinels: dict[str, object], using: str) -> SQLCompiler:
        queryset, values = self._build(**sentinels)
        query = queryset.query.chain(UpdateQuery)
        query.add_update_values(values)
        return query.get_compiler(using=using)

    def rows(self, using: str = DEFAULT_DB_ALIAS, **values: int | datetime) -> list[tuple]:
        raise ImproperlyConfigured("an update returns no rows: call run()")

    def run(self, using: str = DEFAULT_DB_ALIAS, **values: int | datetime) -> int:
        """Run the update with these values; the number of rows it changed."""
        sql, params, _ = self._params(using, values)
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount


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


class _Never:
    """A type no value has: a field whose values always need their field's preparation is matched with it."""


class PrecompiledInsert:
    """Rows of one model written by an INSERT built once per process from the model's fields.

    "Valider" writes an order, its lines and an audit event. Through create() and bulk_create() the ORM spent more
    CPU on them than on anything else in the request (a third of it, sampled with py-spy over 300 in-process
    validations): a model instance per row, the insert compiler, a preparation pass per value. Here each row is a
    mapping of attribute names (`pharmacy_id`, not `pharmacy`) to values; a concrete field the mapping leaves out
    gets what the ORM would give it: the instant of the call for `auto_now` and `auto_now_add` fields, otherwise the
    field's default. A value goes through its field's `get_db_prep_save`, as with the ORM, unless that would give
    it back unchanged: None, an int for an integer column, a str for a text column. So JSON, datetimes and SQLite's
    adaptations are the ORM's own. No model signal is sent; none is connected to the models written this way
    (tests/test_precompiled.py checks it).
    """

    _INTEGER_TYPES = frozenset(
        {
            "AutoField",
            "BigAutoField",
            "SmallAutoField",
            "IntegerField",
            "BigIntegerField",
            "SmallIntegerField",
            "PositiveIntegerField",
            "PositiveBigIntegerField",
            "PositiveSmallIntegerField",
        }
    )
    _TEXT_TYPES = frozenset({"CharField", "TextField", "SlugField"})

    def __init__(self, model: type[Model]) -> None:
        self._model = model
        self._fields = [
            field
            for field in model._meta.concrete_fields
            if not isinstance(field, AutoField | BigAutoField | SmallAutoField)
        ]
        self._attnames = frozenset(field.attname for field in self._fields)
        self._statements: dict[str, tuple[str, str]] = {}
        # The one type whose values a field's get_db_prep_save returns unchanged (a foreign key: its target's).
        self._unchanged: list[type] = []
        for field in self._fields:
            internal = (field.target_field if field.is_relation else field).get_internal_type()
            self._unchanged.append(
                int if internal in self._INTEGER_TYPES else str if internal in self._TEXT_TYPES else _Never
            )

    def _sql(self, using: str) -> tuple[str, str]:
        """(INSERT of one row, the same returning the primary key) for the database `using`."""
        if using not in self._statements:
            quote = connections[using].ops.quote_name
            columns = ", ".join(quote(field.column) for field in self._fields)
            placeholders = ", ".join(["%s"] * len(self._fields))
            # Names from the model's own metadata, quoted by the backend; values only ever travel as parameters.
            insert = f"INSERT INTO {quote(self._model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
            self._statements[using] = (insert, f"{insert} RETURNING {quote(self._model._meta.pk.column)}")
        return self._statements[using]

    def _complete(self, row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        unknown = row.keys() - self._attnames
        if unknown:
            raise ImproperlyConfigured(f"not fields of {self._model.__name__}: {', '.join(sorted(unknown))}")
        values = {}
        for field in self._fields:
            if field.attname in row:
                values[field.attname] = row[field.attname]
            elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                values[field.attname] = now
            else:
                values[field.attname] = field.get_default()
        return values

    def _params(self, values: Mapping[str, Any], connection: Any) -> list:
        params = []
        for field, unchanged in zip(self._fields, self._unchanged, strict=True):
            value = values[field.attname]
            params.append(
                value if value is None or type(value) is unchanged else field.get_db_prep_save(value, connection)
            )
        return params

    def create(self, row: Mapping[str, Any], *, using: str = DEFAULT_DB_ALIAS) -> Model:
        """Insert one row and return it as a saved instance, primary key included."""
        connection = connections[using]
        values = self._complete(row, timezone.now())
        _, returning = self._sql(using)
        with connection.cursor() as cursor:
            cursor.execute(returning, self._params(values, connection))
            pk = cursor.fetchone()[0]
        instance = self._model(pk=pk, **values)
        instance._state.adding = False
        instance._state.db = using
        return instance

    def insert_many(self, rows: Sequence[Mapping[str, Any]], *, using: str = DEFAULT_DB_ALIAS) -> None:
        """Insert rows: one statement run for each, in a single round trip on PostgreSQL (psycopg pipelines
        executemany) where the statement is prepared once and its SQL parsed once. A multi-row VALUES had a new
        text for each number of rows, which psycopg parsed again at every call (a tenth of a validation)."""
        if not rows:
            return
        connection = connections[using]
        now = timezone.now()
        insert, _ = self._sql(using)
        with connection.cursor() as cursor:
            cursor.executemany(insert, [self._params(self._complete(row, now), connection) for row in rows])
