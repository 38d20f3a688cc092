from django.urls import path

from vaccine_orders.urls import urlpatterns as project_urlpatterns

from .views import bare_order

urlpatterns = [path("bench/bare-order/<int:session_id>/", bare_order), *project_urlpatterns]
