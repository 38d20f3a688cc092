import pytest
from django.core.exceptions import ValidationError

from vaccine_orders.identifiers import (
    is_valid_finess,
    is_valid_rpps,
    make_finess,
    make_rpps,
    normalize_identifier,
    validate_finess,
    validate_rpps,
)


@pytest.mark.parametrize("finess", ["750712184", "330781196", "690781810"])  # AP-HP, CHU Bordeaux, HCL
def test_real_finess_numbers_validate(finess):
    assert is_valid_finess(finess)


@pytest.mark.parametrize("finess", ["750712185", "75071218", "7507121840", "75O712184", "2C0000000"])
def test_wrong_finess_is_refused_with_a_french_message(finess):
    with pytest.raises(ValidationError) as excinfo:
        validate_finess(finess)
    assert "FINESS" in excinfo.value.messages[0]


def test_corsican_finess_uses_the_2a_2b_department():
    number = make_finess("2A000123")
    assert number.startswith("2A")
    assert is_valid_finess(number)
    assert not is_valid_finess("2B" + number[2:8] + str((int(number[8]) + 1) % 10))


def test_rpps_key_is_luhn():
    assert is_valid_rpps("10001045367")
    assert not is_valid_rpps("10001045368")
    with pytest.raises(ValidationError, match="clé de contrôle"):
        validate_rpps("10001045368")
    with pytest.raises(ValidationError, match="11 chiffres"):
        validate_rpps("1000104536")


def test_generated_identifiers_are_valid():
    assert is_valid_rpps(make_rpps("1234567890"))
    assert is_valid_finess(make_finess("93012345"))


def test_normalize_removes_spaces_and_dots():
    assert normalize_identifier(" 75 071 2184 ") == "750712184"
    assert normalize_identifier("2a.000.123") == "2A000123"
