from django.urls import path

from labelapp.exports import views

app_name = "exports"
urlpatterns = [
    path("exports/labels/", views.download, {"kind": "labels"}, name="labels"),
    path("exports/model/", views.download, {"kind": "model"}, name="model"),
    path("exports/distill/", views.distill_start, name="distill"),
    path("exports/distillations/<int:distillation_id>/", views.distillation_status, name="distillation"),
    # background exports: ids of ExportJob rows (never RQ job ids)
    path("exports/start/", views.export_start, name="export-start"),
    path("exports/<int:export_id>/", views.export_status, name="export"),
    path("exports/<int:export_id>/download/", views.export_download, name="export-download"),
]
