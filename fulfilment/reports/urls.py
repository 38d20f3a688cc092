"""Reports (mounted at /rapports/). Every URL here is checked for region isolation and the second factor by
tests/reports/test_isolation.py, which reads this list: a new URL without its case there fails the suite."""

from django.urls import path, register_converter

from . import views


class FileFormatConverter:
    regex = "csv|xlsx"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(FileFormatConverter, "report_format")

app_name = "reports"

urlpatterns = [
    path("", views.report_view, name="index"),
    path("rapport.<report_format:file_format>", views.report_download_view, name="report_download"),
    path("lignes.<report_format:file_format>", views.lines_download_view, name="lines_download"),
    path("requisition/", views.requisition_view, name="requisition"),
    path("requisition.<report_format:file_format>", views.requisition_download_view, name="requisition_download"),
    path("quotidiens/", views.daily_list_view, name="daily_list"),
    path("quotidiens/<int:pk>.<report_format:file_format>", views.daily_download_view, name="daily_download"),
    path("quotidiens/abonnement/", views.subscription_view, name="subscription"),
]
