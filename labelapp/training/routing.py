"""Websocket routes of the training app."""

websocket_urlpatterns: list = []
