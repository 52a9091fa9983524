"""Labeling pages and JSON endpoints under ``p/<slug>/``."""

from django.urls import path

from labelapp.labeling import browser_views, views

app_name = "labeling"
urlpatterns = [
    path("label/", views.label_page, name="label"),
    path("low-confidence/", views.low_confidence_page, name="low_confidence"),
    path("label/next/", views.next_image, name="next"),
    path("label/submit/", views.submit, name="submit"),
    path("label/undo/", views.undo, name="undo"),
    path("label/skip/", views.skip, name="skip"),
    path("label/release/", views.release, name="release"),
    path("label/state/", views.state, name="state"),
    path("label/prepare/", views.prepare, name="prepare"),
    path("review/", views.review_page, name="review"),
    path("review/decide/", views.review_decide, name="review_decide"),
    path("review/undo/", views.review_undo, name="review_undo"),
    path("suspects/", views.suspects_page, name="suspects"),
    path("suspects/items/", views.suspects_items, name="suspects_items"),
    path("suspects/keep/", views.suspect_keep, name="suspect_keep"),
    path("dashboard/", views.dashboard_page, name="dashboard"),
    # The images page is the data browser: it reads labels, predictions and embeddings, so it lives here.
    path("images/", browser_views.image_browser, name="images"),
    path("images/label/", browser_views.images_label, name="images_label"),
    path("images/<int:image_id>/", browser_views.image_detail, name="image"),
]
