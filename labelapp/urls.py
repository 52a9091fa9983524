"""Root URL map: each app owns the paths under its prefix."""

from django.contrib import admin
from django.urls import include, path

from labelapp.api import pages as api_pages
from labelapp.lib.login_throttle import ThrottledLoginView
from labelapp.lib.password_reset import MailPasswordResetView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),  # before auth.urls: its login, throttled
    path("accounts/password_reset/", MailPasswordResetView.as_view(), name="password_reset"),  # off without mail
    path("accounts/tokens/", api_pages.token_list, name="tokens"),
    path("accounts/tokens/<int:token_id>/revoke/", api_pages.token_revoke, name="token_revoke"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("labelapp.api.urls")),
    path("", include("labelapp.projects.urls")),
    path("p/<slug:slug>/", include("labelapp.images.urls")),
    path("p/<slug:slug>/", include("labelapp.labeling.urls")),
    path("p/<slug:slug>/", include("labelapp.training.urls")),
    path("p/<slug:slug>/", include("labelapp.exports.urls")),
]
