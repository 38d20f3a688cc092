"""URL map. French paths for the users; each app owns its own urls module."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Commande de vaccins – administration SpF"
admin.site.site_title = "Commande de vaccins"
admin.site.index_title = "Administration"

urlpatterns = [
    path("", include("vaccine_orders.portal.urls")),
    path("commandes/", include("vaccine_orders.orders.urls")),
    path("effecteurs/", include("effectors.urls")),
    path("calendrier/", include("sessions_calendar.urls")),
    path("suivi/", include("fulfilment.urls")),
    path("rapports/", include("fulfilment.reports.urls")),
    path("compte/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
# Media files (PDF summaries, reports) are private: never served from a public URL, only through views
# that check who asks.
