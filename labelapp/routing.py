"""Websocket URL map."""

from labelapp.training.routing import websocket_urlpatterns

__all__ = ["websocket_urlpatterns"]
