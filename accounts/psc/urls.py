"""Included by allauth under /accounts/: the redirect URI to register with PSC is
<site>/accounts/psc/login/callback/."""

from django.urls import path

from . import views

urlpatterns = [
    path("psc/login/", views.login, name="prosanteconnect_login"),
    path("psc/login/callback/", views.callback, name="prosanteconnect_callback"),
]
