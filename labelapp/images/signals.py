"""The signal the images app sends, for the apps above it (images never imports them).

``images_labeled``: an import found labels for images it just added (ImageFolder folder names, the demo
seed's first images per class). The labeling app saves them as human labels in bulk, with their history
(:func:`labelapp.labeling.services.annotations_import`); images never writes label rows itself. Keyword
arguments: ``project``, ``labels`` (a list of ``(image id, label class id)``) and ``user`` (the importer,
``None`` for the server's own commands). Sent synchronously: the labels are saved when it returns.
"""

from __future__ import annotations

from django.dispatch import Signal

images_labeled = Signal()
