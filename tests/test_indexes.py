"""The tables written on every validation (the order, its lines, the audit event) carry no index that
another index already serves: each one is a write more per row, on the busiest path of the service."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

HOT_TABLES = ["orders_order", "orders_orderline", "audit_auditevent"]

# Plain b-tree indexes whose columns (and operator classes) are a leading part of another index's.
REDUNDANT = """
with idx as (
    select i.indrelid::regclass::text as tbl, c.relname as name, i.indisunique as uniq,
           i.indkey::text as cols, i.indclass::text as classes,
           i.indpred is null and i.indexprs is null as plain
    from pg_index i join pg_class c on c.oid = i.indexrelid
    where i.indrelid::regclass::text = any(%s)
)
select a.tbl, a.name, b.name
from idx a join idx b on a.tbl = b.tbl and a.name <> b.name
where not a.uniq and a.plain and b.plain
  and (b.cols = a.cols or b.cols like a.cols || ' %%')
  and (b.classes = a.classes or b.classes like a.classes || ' %%')
order by 1, 2
"""


def test_the_validation_tables_have_no_redundant_index():
    with connection.cursor() as cursor:
        cursor.execute(REDUNDANT, [HOT_TABLES])
        redundant = cursor.fetchall()
        cursor.execute("select count(*) from pg_indexes where tablename = any(%s)", [HOT_TABLES])
        (count,) = cursor.fetchone()
    assert redundant == []
    assert count >= 9  # the query did see the tables' indexes (keys, constraints, the composite indexes)


def test_the_composite_indexes_still_serve_the_foreign_keys():
    """Deleting a pharmacy, a session, an order or a product looks its rows up through these."""
    with connection.cursor() as cursor:
        cursor.execute("select indexname, indexdef from pg_indexes where tablename = any(%s)", [HOT_TABLES])
        definitions = dict(cursor.fetchall())
    assert "(pharmacy_id, session_id)" in definitions["order_one_per_pharmacy_and_session"]
    assert "(session_id, status)" in definitions["order_session_status_idx"]
    assert "(order_id, effector_id, product_id, injection_rank)" in definitions["order_line_unique_cell"]
    assert "(product_id, order_id)" in definitions["order_line_product_idx"]
    assert "(pharmacy_id, created_at DESC)" in definitions["audit_pharmacy_idx"]
    assert "(target_type_id, target_id, created_at DESC)" in definitions["audit_target_idx"]
    assert "(action, created_at DESC)" in definitions["audit_action_idx"]
    assert "UNIQUE INDEX order_reference_unique" in definitions["order_reference_unique"]
    assert [name for name, sql in definitions.items() if sql.endswith("(reference)")] == ["order_reference_unique"]


def test_no_like_pattern_index_is_written_for_nothing():
    """unique=True or db_index=True on a text column adds a varchar_pattern_ops twin on PostgreSQL, for
    case-sensitive LIKE 'prefix%' queries; none are made on these tables."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select indexname from pg_indexes where tablename = any(%s) and indexdef like %s",
            [
                HOT_TABLES,
                "%pattern_ops%",
            ],
        )
        assert cursor.fetchall() == []
