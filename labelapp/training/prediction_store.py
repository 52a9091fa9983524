"""Bulk writes of a version's prediction rows: PostgreSQL's ``COPY``, batched INSERTs elsewhere.

A round predicts every image of the project; at 100k images the ORM's ``bulk_create`` builds 100k model
objects and sends the rows as parameterised INSERTs (16-24 s on the 2-core reference machine). On
PostgreSQL the rows go instead through one ``COPY ... FROM STDIN`` (psycopg 3's ``cursor.copy``), built
from the NumPy columns without a model object per row. Other databases (SQLite, the embedded default)
keep INSERT batches of :data:`SQLITE_BATCH` rows in their own transactions, so labelers' writes
interleave with a long write (SQLite has one writer at a time).

After the COPY the table is analysed (:mod:`labelapp.lib.table_statistics`): until then PostgreSQL's
planner would plan the new version's queries as if it had no rows, and the review page took 3× longer.

Either way the version is not current yet while its rows are written (see
:func:`labelapp.training.services.version_publish`), so readers never see half a version.
"""

from __future__ import annotations

import json

import numpy as np
from django.db import connection, transaction

from labelapp.lib.table_statistics import table_statistics_refresh
from labelapp.training.models import ModelVersion, Prediction
from sslengine import Predictions

SQLITE_BATCH = 1000  # rows per INSERT transaction where COPY is not available
PROBS_DECIMALS = 4  # stored probabilities are rounded: 4 decimals are what any page shows or sorts by
_COLUMNS = ("version_id", "image_id", "predicted_index", "confidence", "margin", "entropy", "probs")


def _columns(ids: np.ndarray, predictions: Predictions, rows: slice) -> zip:
    """Per-row tuples (image id, predicted index, confidence, margin, entropy, rounded probs) of a slice."""
    probs = np.round(predictions.probs[rows].numpy().astype(np.float64), PROBS_DECIMALS).tolist()
    return zip(
        ids[rows].tolist(),
        predictions.predicted[rows].tolist(),
        predictions.confidence[rows].tolist(),
        predictions.margin[rows].tolist(),
        predictions.entropy[rows].tolist(),
        probs,
    )


def predictions_copy(*, version: ModelVersion, ids: np.ndarray, predictions: Predictions) -> None:
    """All rows in one ``COPY`` (PostgreSQL only), in one transaction: a failure leaves no row behind."""
    table = connection.ops.quote_name(Prediction._meta.db_table)
    names = ", ".join(connection.ops.quote_name(name) for name in _COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY {table} ({names}) FROM STDIN"
    ) as copy:
        for image_id, index, confidence, margin, entropy, probs in _columns(ids, predictions, slice(None)):
            copy.write_row((version.pk, image_id, index, confidence, margin, entropy, json.dumps(probs)))


def predictions_insert(*, version: ModelVersion, ids: np.ndarray, predictions: Predictions) -> None:
    """Rows as ``bulk_create`` batches of :data:`SQLITE_BATCH`, one transaction each."""
    for start in range(0, len(ids), SQLITE_BATCH):
        batch = [
            Prediction(
                version=version, image_id=image_id, predicted_index=index, confidence=confidence, margin=margin,
                entropy=entropy, probs=probs,
            )
            for image_id, index, confidence, margin, entropy, probs in _columns(
                ids, predictions, slice(start, start + SQLITE_BATCH)
            )
        ]
        with transaction.atomic():
            Prediction.objects.bulk_create(batch)


def predictions_write(*, version: ModelVersion, ids: np.ndarray, predictions: Predictions) -> None:
    """Write one prediction per image (row i is Image ``ids[i]``) by the fastest path the database has."""
    if connection.vendor == "postgresql":
        predictions_copy(version=version, ids=ids, predictions=predictions)
        table_statistics_refresh(Prediction)  # the planner must know the version's rows before it is current
    else:
        predictions_insert(version=version, ids=ids, predictions=predictions)
