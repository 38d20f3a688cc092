""" "Suivi de commande" (mounted at /suivi/)."""

from django.urls import path

from . import views

app_name = "fulfilment"

urlpatterns = [
    path("", views.follow_up_list_view, name="list"),
    path("<str:reference>/", views.follow_up_detail_view, name="detail"),
    path("<str:reference>/recapitulatif.pdf", views.summary_pdf_view, name="summary_pdf"),
]
