"""The project's URLs plus one tiny page per access rule (no ARS page exists yet)."""

from django.http import HttpResponse
from django.urls import path

from accounts.access import ars_required, pharmacy_required, staff_required
from vaccine_orders.urls import urlpatterns as project_urlpatterns


@ars_required
def ars_page(request):
    return HttpResponse(f"Rapport de la région {request.user.region.code if request.user.region_id else 'toutes'}")


@staff_required
def staff_page(request):
    return HttpResponse("Page SpF")


@pharmacy_required
def pharmacy_page(request):
    return HttpResponse(f"Officine {request.pharmacy.finess}")


urlpatterns = [
    path("test/ars/", ars_page, name="test_ars_page"),
    path("test/spf/", staff_page, name="test_staff_page"),
    path("test/officine/", pharmacy_page, name="test_pharmacy_page"),
    *project_urlpatterns,
]
