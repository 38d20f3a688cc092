"""No two sessions (open or closed weeks) may overlap: "the session open now" must be one session.

The service checks it first with a clear French message; this exclusion constraint settles the race
between two staff members saving at the same time. It exists on PostgreSQL only (SQLite, used for the
development server and the quick tests, has no exclusion constraints), hence the vendor guard instead of a
`Meta.constraints` entry. A range-only GiST exclusion needs no extension (btree_gist is only required to mix
scalar equality into the constraint).
"""

from django.db import migrations

CONSTRAINT = "session_no_overlap"
TABLE = "sessions_calendar_ordersession"


def add_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {CONSTRAINT} "
        "EXCLUDE USING gist (tstzrange(opens_at, closes_at, '[)') WITH &&)"
    )


def drop_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_calendar", "0002_holiday_note_and_reminders"),
    ]

    operations = [
        migrations.RunPython(add_constraint, drop_constraint, elidable=False),
    ]
