import pytest

from tests.labelapp.exports.helpers import tiny_model, trained_project  # noqa: F401  (shared fixtures)


@pytest.fixture(autouse=True)
def isolated_files(settings, tmp_path):
    """Each test stores images and exports in its own folders."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXPORT_DIR = tmp_path / "exports"


@pytest.fixture
def api():
    """``api(user)``: a DRF client authenticated with the user's API token (``Authorization: Token …``)."""
    from rest_framework.test import APIClient

    from labelapp.api.services import api_token_create

    def client_for(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")
        return client

    return client_for


@pytest.fixture(autouse=True)
def forget_queued_rounds():
    """Starting training queues a round in Redis: drop it after the test (project ids repeat between tests)."""
    yield
    import django_rq

    from labelapp.training import store

    connection = store.connection()
    for key in connection.scan_iter("labelapp:training:*"):
        connection.delete(key)
    django_rq.get_queue(store.QUEUE_NAME).empty()
