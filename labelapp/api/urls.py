"""``/api/``: token, schema and docs (Swagger UI; Redoc is left out: its page loads Google Fonts), and the
project-scoped resources."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from labelapp.api import views

app_name = "api"
project = "projects/<slug:slug>/"
urlpatterns = [
    path("token/", views.TokenView.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("projects/", views.ProjectList.as_view(), name="projects"),
    path(project, views.ProjectDetail.as_view(), name="project"),
    path(project + "classes/", views.ClassList.as_view(), name="classes"),
    path(project + "images/", views.ImageListCreate.as_view(), name="images"),
    path(project + "images/next/", views.NextImage.as_view(), name="next-image"),
    path(project + "images/<int:image_id>/", views.ImageDetail.as_view(), name="image"),
    path(project + "images/<int:image_id>/file/", views.ImageContent.as_view(content="file"), name="image-file"),
    path(project + "images/<int:image_id>/thumbnail/", views.ImageContent.as_view(content="thumbnail"), name="image-thumbnail"),
    path(project + "annotations/", views.AnnotationListCreate.as_view(), name="annotations"),
    path(project + "pseudo-labels/", views.PseudoLabels.as_view(), name="pseudo-labels"),
    path(project + "versions/", views.VersionList.as_view(), name="versions"),
    path(project + "versions/<int:number>/", views.VersionDetail.as_view(), name="version"),
    path(project + "versions/<int:number>/predictions/", views.PredictionList.as_view(), name="predictions"),
    path(project + "exports/labels/", views.ExportLabels.as_view(), name="export-labels"),
    path(project + "exports/model/", views.ExportModel.as_view(), name="export-model"),
    path(project + "training/start/", views.TrainingSwitch.as_view(switch="start"), name="training-start"),
    path(project + "training/stop/", views.TrainingSwitch.as_view(switch="stop"), name="training-stop"),
]
