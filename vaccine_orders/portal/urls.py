from django.urls import path

from vaccine_orders import health

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("actualites/", views.news, name="news"),
    path("aide/", views.help_page, name="help"),
    path("aide/guides/<int:pk>/", views.help_document_download, name="help_document_download"),
    path("accessibilite/", views.accessibility_statement, name="accessibility"),
    path("donnees-personnelles/", views.personal_data, name="personal_data"),
    path("support/", views.support_request, name="support_request"),
    path("support/envoyee/", views.support_request_sent, name="support_request_sent"),
    path("support/mes-demandes/", views.support_my_requests, name="support_my_requests"),
    path("support/mes-demandes/<str:reference>/", views.support_my_request_detail, name="support_my_request_detail"),
    path("support/officines/", views.support_pharmacy_search, name="support_pharmacy_search"),
    path("support/officines/<int:pharmacy_id>/", views.support_pharmacy_file, name="support_pharmacy_file"),
]
