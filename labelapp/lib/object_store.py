"""The ``STORAGES`` entries of an S3-compatible object store (django-storages' ``S3Storage``).

Two aliases on one bucket: ``default`` (media: images and thumbnails, under ``media/``) and ``shared``
(checkpoints and per-version embeddings, under ``shared/``, see :mod:`labelapp.lib.shared_files`).
Settings build them from the environment (STORAGE_BACKEND=s3); tests build them for a real SeaweedFS.
"""

from __future__ import annotations

S3_BACKEND = "storages.backends.s3.S3Storage"


def s3_storages(
    *, bucket: str, access_key: str, secret_key: str, endpoint_url: str = "", region: str = "us-east-1"
) -> dict[str, dict]:
    """``default`` and ``shared`` storage entries for ``bucket``; an empty ``endpoint_url`` means AWS itself."""
    options = {
        "bucket_name": bucket,
        "access_key": access_key,
        "secret_key": secret_key,
        "endpoint_url": endpoint_url or None,
        "region_name": region,
        "addressing_style": "path" if endpoint_url else None,  # self-hosted servers rarely have bucket DNS names
        "signature_version": "s3v4",
        "querystring_auth": True,  # objects stay private: the app streams media after its own permission check
    }
    return {
        "default": {"BACKEND": S3_BACKEND, "OPTIONS": {**options, "location": "media", "file_overwrite": False}},
        "shared": {"BACKEND": S3_BACKEND, "OPTIONS": {**options, "location": "shared", "file_overwrite": True}},
    }
