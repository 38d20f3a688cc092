from django.urls import path

from . import views

app_name = "sessions_calendar"

urlpatterns = [
    path("", views.calendar_page, name="calendar"),
    path("calendrier.ics", views.calendar_feed, name="calendar_ics"),
    path("rappels/", views.reminder_preferences, name="reminders"),
    path("rappels/desinscription/<str:token>/", views.reminder_unsubscribe, name="reminders_unsubscribe"),
]
