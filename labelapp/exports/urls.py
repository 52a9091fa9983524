from django.urls import path

from labelapp.exports import views

app_name = "exports"
urlpatterns = [
    path("exports/labels/", views.labels_download, name="labels"),
    path("exports/model/", views.model_download, name="model"),
]
