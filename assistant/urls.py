from django.urls import path

from . import views

urlpatterns = [
    path("t/<int:thread_id>/catch-up/", views.catch_up_view, name="catch-up"),
    path("catch-ups/<int:catch_up_id>/stop/", views.catch_up_stop_view, name="catch-up-stop"),
    path(
        "catch-ups/<int:catch_up_id>/dismiss/",
        views.catch_up_dismiss_view,
        name="catch-up-dismiss",
    ),
]
