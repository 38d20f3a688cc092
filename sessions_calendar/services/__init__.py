"""Writes of the calendar app (HackSoft services): one module per concern, re-exported here.

- calendar: generating sessions, creating or editing one session (guards: overlap, closing after
  opening, a closed session's window);
- rules: the rules of a session (products, stocks, box sizes, caps), validated, audited;
- dgs_import: the same rules from a DGS-Urgent-shaped CSV table, dry run first;
- pilot: pilot groups filled from FINESS lists, the whole-service restriction;
- reminders: the end-of-session reminder, claimed before it is sent.
"""

from .calendar import (
    CalendarSpec,
    HolidayPolicy,
    PlannedSession,
    Rhythm,
    calendar_generate,
    calendar_plan,
    holiday_name,
    monday_of,
    paris_instant,
    session_check,
    session_save,
)
from .dgs_import import DgsPreview, dgs_import_apply, dgs_import_preview, parse_table
from .pilot import PilotImportReport, parse_finess_list, pilot_group_import_finess, service_restrict_to_pilot
from .reminders import (
    pharmacy_set_reminders,
    reminder_claim,
    reminder_unsubscribe_pharmacy,
    reminder_unsubscribe_token,
    session_reminders_plan,
    session_reminders_send,
)
from .rules import (
    RulesSaveResult,
    rules_diff,
    rules_editable_check,
    rules_fingerprint,
    rules_from_previous,
    rules_validate,
    session_rules_save,
)

__all__ = [
    "CalendarSpec",
    "DgsPreview",
    "HolidayPolicy",
    "PilotImportReport",
    "PlannedSession",
    "Rhythm",
    "RulesSaveResult",
    "calendar_generate",
    "calendar_plan",
    "dgs_import_apply",
    "dgs_import_preview",
    "holiday_name",
    "monday_of",
    "paris_instant",
    "parse_finess_list",
    "parse_table",
    "pharmacy_set_reminders",
    "pilot_group_import_finess",
    "reminder_claim",
    "reminder_unsubscribe_pharmacy",
    "reminder_unsubscribe_token",
    "rules_diff",
    "rules_editable_check",
    "rules_fingerprint",
    "rules_from_previous",
    "rules_validate",
    "service_restrict_to_pilot",
    "session_check",
    "session_reminders_plan",
    "session_reminders_send",
    "session_rules_save",
    "session_save",
]
