from django.urls import path

from . import views

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("saisie/", views.order_start, name="start"),
    path("historique/", views.history, name="history"),
    path("session/<int:session_id>/", views.order_entry, name="entry"),
    path("session/<int:session_id>/valider/", views.order_validate, name="validate"),
    path("<str:reference>/", views.order_detail, name="detail"),
    path("<str:reference>/annuler/", views.order_cancel_view, name="cancel"),
]
