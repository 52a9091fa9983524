"""Websocket routes: one socket per open project page."""

from django.urls import path

from labelapp.training.consumers import ProjectConsumer

websocket_urlpatterns = [path("ws/p/<slug:slug>/", ProjectConsumer.as_asgi())]
