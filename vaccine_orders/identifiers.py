"""National identifiers of the health directories and their check keys.

- RPPS: 11 digits, the last one a Luhn key over the first ten (Annuaire santé).
- FINESS: 9 characters, the last one a Luhn key over the first eight. The first two characters are
  the department; Corsica writes them "2A" / "2B". The key of a Corsican number is computed as if the
  department were "20" (its code before 1976), which is how the national file's numbers validate.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

RPPS_RE = re.compile(r"^\d{11}$")
FINESS_RE = re.compile(r"^(\d{2}|2[AB])\d{7}$")


def luhn_checksum_ok(digits: str) -> bool:
    """True when the string of digits (key included, rightmost) satisfies the Luhn formula."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_key(payload: str) -> str:
    """The Luhn key digit to append to `payload` (digits only)."""
    for key in "0123456789":
        if luhn_checksum_ok(payload + key):
            return key
    raise AssertionError("unreachable: one digit always completes a Luhn sum")


def normalize_identifier(value: str) -> str:
    """Spaces and dots are how people copy these numbers from letters; they are not part of them."""
    return re.sub(r"[\s.\-]", "", value or "").upper()


def is_valid_rpps(value: str) -> bool:
    return bool(RPPS_RE.match(value)) and luhn_checksum_ok(value)


def is_valid_finess(value: str) -> bool:
    if not FINESS_RE.match(value):
        return False
    digits = "20" + value[2:] if value[:2] in ("2A", "2B") else value
    return luhn_checksum_ok(digits)


def validate_rpps(value: str) -> None:
    if not RPPS_RE.match(value or ""):
        raise ValidationError(
            "Le numéro RPPS « %(value)s » doit comporter 11 chiffres.",
            code="rpps_format",
            params={"value": value},
        )
    if not luhn_checksum_ok(value):
        raise ValidationError(
            "Le numéro RPPS « %(value)s » n'est pas valide : sa clé de contrôle ne correspond pas.",
            code="rpps_key",
            params={"value": value},
        )


def validate_finess(value: str) -> None:
    if not FINESS_RE.match(value or ""):
        raise ValidationError(
            "Le numéro FINESS « %(value)s » doit comporter 9 caractères (chiffres, ou 2A/2B pour la Corse).",
            code="finess_format",
            params={"value": value},
        )
    if not is_valid_finess(value):
        raise ValidationError(
            "Le numéro FINESS « %(value)s » n'est pas valide : sa clé de contrôle ne correspond pas.",
            code="finess_key",
            params={"value": value},
        )


def make_rpps(payload10: str) -> str:
    """A valid RPPS from ten digits (demo data and tests)."""
    return payload10 + luhn_key(payload10)


def make_finess(payload8: str) -> str:
    """A valid FINESS from eight characters (demo data and tests)."""
    digits = "20" + payload8[2:] if payload8[:2] in ("2A", "2B") else payload8
    return payload8 + luhn_key(digits)
