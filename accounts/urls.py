"""/compte/: the agents' login page, "Visualiser compte" and the end of a PSC session.

The PSC login itself is under /accounts/psc/ (allauth): see accounts.psc.urls."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.pharmacy_account, name="pharmacy_account"),
    path("adresse-email/", views.pharmacy_email_first, name="pharmacy_email_first"),
    path("adresse-email/modifier/", views.pharmacy_email_edit, name="pharmacy_email_edit"),
    path("adresse-email/verification/", views.pharmacy_email_confirm, name="pharmacy_email_confirm"),
    path("connexion-agents/", views.staff_login, name="staff_login"),
    path("connexion/officine/", views.psc_choose_pharmacy, name="psc_choose_pharmacy"),
    path("deconnexion/", views.psc_logged_out, name="psc_logged_out"),
]
