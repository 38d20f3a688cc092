"""The main menu: entries per audience, URLs reversed once per process and per script prefix."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse, set_script_prefix

from tests import factories
from vaccine_orders.portal.navigation import nav_for

pytestmark = pytest.mark.django_db


def _menu(user, path="/", prefix="/"):
    request = RequestFactory().get(path)
    request.user = user
    set_script_prefix(prefix)
    try:
        return {item["label"]: (item["url"], item["active"]) for item in nav_for(request)}
    finally:
        set_script_prefix("/")


def test_an_officine_sees_its_entries_with_the_current_one_active():
    user = factories.PharmacyUserFactory()
    menu = _menu(user, path=reverse("orders:list"))
    assert menu["Mes commandes"] == (reverse("orders:list"), True)
    assert menu["Accueil"] == ("/", False) and "Rapports" not in menu


def test_the_same_entries_under_another_script_prefix_get_that_prefix():
    user = factories.PharmacyUserFactory()
    assert _menu(user)["Mes commandes"][0] == "/commandes/"
    assert _menu(user, prefix="/vaccins/")["Mes commandes"][0] == "/vaccins/commandes/"
    assert _menu(user)["Mes commandes"][0] == "/commandes/"  # the first answer was not reused for the other prefix
