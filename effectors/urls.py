from django.urls import path

from . import views

app_name = "effectors"

urlpatterns = [
    path("", views.effector_list, name="list"),
    path("rechercher/", views.effector_search, name="search"),
    path("rattacher/", views.effector_attach, name="attach"),
    path("historique/", views.effector_history, name="history"),
    path("<int:attachment_id>/retirer/", views.effector_detach, name="detach"),
    path("<int:attachment_id>/contact/", views.effector_contact, name="contact"),
    path("transferts/demander/", views.transfer_request, name="transfer_request"),
    path(
        "transferts/<int:transfer_id>/accepter/",
        views.transfer_answer,
        {"decision": "accepter"},
        name="transfer_accept",
    ),
    path(
        "transferts/<int:transfer_id>/refuser/",
        views.transfer_answer,
        {"decision": "refuser"},
        name="transfer_refuse",
    ),
    path("transferts/<int:transfer_id>/annuler/", views.transfer_cancel, name="transfer_cancel"),
]
