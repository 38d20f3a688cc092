import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


def test_loading_a_pharmacy_account_brings_its_pharmacy_in_the_same_query(user_a, django_assert_num_queries):
    with django_assert_num_queries(1):
        user = get_user_model().objects.get(pk=user_a.pk)
        assert user.pharmacy.finess == user_a.pharmacy.finess
