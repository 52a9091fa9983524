import pytest

from tests.labelapp.exports.helpers import tiny_model, trained_project  # noqa: F401  (shared fixtures)


@pytest.fixture(autouse=True)
def isolated_files(settings, tmp_path):
    """Each test stores images and exports in its own folders."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXPORT_DIR = tmp_path / "exports"
