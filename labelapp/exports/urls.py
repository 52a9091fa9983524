from django.urls import path

from labelapp.exports import views

app_name = "exports"
urlpatterns = [
    path("exports/labels/", views.download, {"kind": "labels"}, name="labels"),
    path("exports/model/", views.download, {"kind": "model"}, name="model"),
    path("exports/distill/", views.distill_start, name="distill"),
    path("exports/distillations/<int:distillation_id>/", views.distillation_status, name="distillation"),
    path("exports/jobs/", views.job_start, name="job-start"),
    path("exports/jobs/<int:job_id>/", views.job_status, name="job"),
    path("exports/jobs/<int:job_id>/download/", views.job_download, name="job-download"),
]
