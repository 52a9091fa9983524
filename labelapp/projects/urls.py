from django.urls import path

from labelapp.projects import views

app_name = "projects"
urlpatterns = [
    path("", views.project_list, name="list"),
    path("new/", views.project_create, name="create"),
    path("p/<slug:slug>/", views.project_detail, name="detail"),
    path("p/<slug:slug>/settings/", views.project_settings, name="settings"),
    path("p/<slug:slug>/classes/", views.project_classes, name="classes"),
    path("p/<slug:slug>/members/", views.project_members, name="members"),
    path("p/<slug:slug>/members/<int:membership_id>/role/", views.membership_role, name="membership_role"),
    path("p/<slug:slug>/members/<int:membership_id>/remove/", views.membership_remove, name="membership_remove"),
]
