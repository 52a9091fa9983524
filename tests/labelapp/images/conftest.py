import pytest


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path):
    """Each test stores files in its own MEDIA_ROOT, so it can assert on exactly what was written."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
