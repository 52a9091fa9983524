from django.urls import path

from labelapp.images import views

app_name = "images"
urlpatterns = [
    path("images/upload/", views.image_upload, name="upload"),
    path("images/<int:image_id>/file/", views.image_file, name="file"),
    path("images/<int:image_id>/thumbnail/", views.image_thumbnail, name="thumbnail"),
]
