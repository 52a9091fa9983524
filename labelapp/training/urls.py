"""Training URLs under ``p/<slug>/``."""

from django.urls import path

from labelapp.training import views

app_name = "training"
urlpatterns = [
    path("training/start/", views.training_start_view, name="start"),
    path("training/stop/", views.training_stop_view, name="stop"),
    path("training/status/", views.training_status_view, name="status"),
    path("versions/<int:number>/pin/", views.version_pin_view, name="version-pin"),
    path("versions/<int:number>/rollback/", views.version_rollback_view, name="version-rollback"),
]
