"""ASGI entry point: HTTP through Django (oversized bodies refused first, in daphne's transport and in
:class:`labelapp.request_limits.RequestBodyLimit`), websockets through Channels with session auth, same
origin only."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelapp.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from labelapp import server_limits  # noqa: E402
from labelapp.lib.websocket_origin import SameOriginValidator  # noqa: E402
from labelapp.request_limits import RequestBodyLimit  # noqa: E402
from labelapp.routing import websocket_urlpatterns  # noqa: E402

server_limits.install()

application = ProtocolTypeRouter(
    {
        "http": RequestBodyLimit(django_asgi_app),
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
