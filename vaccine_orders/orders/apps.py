from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "vaccine_orders.orders"
    label = "orders"
    verbose_name = "Catalogue et commandes"
