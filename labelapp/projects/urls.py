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
    path("p/<slug:slug>/members/invite/", views.invitation_create, name="invitation_create"),
    path(
        "p/<slug:slug>/members/invitations/<int:invitation_id>/revoke/", views.invitation_revoke,
        name="invitation_revoke",
    ),
    # Under accounts/ with the other pages a person without a session reaches.
    path("accounts/invitation/<str:token>/", views.invitation_accept, name="invitation_accept"),
]
