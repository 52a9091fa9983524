"""Prediction rows in bulk (labelapp.training.prediction_store): COPY on PostgreSQL, INSERT batches elsewhere.

Runs on the test database of the run: SQLite by default, PostgreSQL when DATABASE_URL points there (CI);
the COPY tests skip on SQLite with that reason.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from django.db import IntegrityError, connection

from labelapp.images.models import Image
from labelapp.training import prediction_store
from labelapp.training.models import ModelVersion, Prediction
from sslengine import Predictions

pytestmark = pytest.mark.django_db(transaction=True)

needs_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's (set DATABASE_URL)")


@pytest.fixture
def version_and_images(project) -> tuple[ModelVersion, np.ndarray]:
    Image.objects.bulk_create([
        Image(project=project, file=f"images/{i}.png", original_name=f"{i}.png", sha256=f"{i:064d}", format="PNG",
              width=28, height=28)
        for i in range(2500)
    ])
    ids = np.array(sorted(Image.objects.filter(project=project).values_list("id", flat=True)), dtype=np.int64)
    version = ModelVersion.objects.create(project=project, number=1, algorithm="fixmatch", backbone="cnn-small")
    return version, ids


def _predictions(n: int) -> Predictions:
    probs = torch.softmax(torch.randn(n, 3, generator=torch.Generator().manual_seed(1)) * 3, dim=1)
    return Predictions.from_probs(probs, torch.zeros(n, 4))


def _assert_rows_match(version: ModelVersion, ids: np.ndarray, predictions: Predictions) -> None:
    rows = {row.image_id: row for row in Prediction.objects.filter(version=version)}
    assert sorted(rows) == ids.tolist()
    for i in (0, 1234, len(ids) - 1):
        row = rows[int(ids[i])]
        assert row.predicted_index == int(predictions.predicted[i])
        assert row.confidence == pytest.approx(float(predictions.confidence[i]), abs=1e-6)
        assert row.margin == pytest.approx(float(predictions.margin[i]), abs=1e-6)
        assert row.entropy == pytest.approx(float(predictions.entropy[i]), abs=1e-6)
        assert row.probs == pytest.approx(np.round(predictions.probs[i].numpy().astype(np.float64), 4).tolist())


def test_the_database_s_own_path_writes_one_row_per_image(version_and_images) -> None:
    version, ids = version_and_images
    predictions = _predictions(len(ids))
    prediction_store.predictions_write(version=version, ids=ids, predictions=predictions)
    _assert_rows_match(version, ids, predictions)


def test_insert_batches_write_the_same_rows(version_and_images) -> None:
    version, ids = version_and_images
    predictions = _predictions(len(ids))
    prediction_store.predictions_insert(version=version, ids=ids, predictions=predictions)
    _assert_rows_match(version, ids, predictions)


@needs_postgresql
def test_copy_writes_the_same_rows_as_insert_batches(version_and_images) -> None:
    version, ids = version_and_images
    predictions = _predictions(len(ids))
    prediction_store.predictions_copy(version=version, ids=ids, predictions=predictions)
    _assert_rows_match(version, ids, predictions)
    json_type = connection.cursor().execute("SELECT jsonb_typeof(probs) FROM training_prediction LIMIT 1").fetchone()
    assert json_type == ("array",)  # stored as JSON, not as a string holding JSON


@needs_postgresql
def test_a_failing_copy_leaves_no_row_behind(version_and_images) -> None:
    version, ids = version_and_images
    broken = ids.copy()
    broken[-1] = ids.max() + 10_000  # no such image: the foreign key fails at commit
    with pytest.raises(IntegrityError):
        prediction_store.predictions_copy(version=version, ids=broken, predictions=_predictions(len(ids)))
    assert not Prediction.objects.filter(version=version).exists()


@needs_postgresql
def test_the_planner_knows_a_written_version_s_rows_before_anyone_reads_them(version_and_images) -> None:
    version, ids = version_and_images
    prediction_store.predictions_write(version=version, ids=ids, predictions=_predictions(len(ids)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [Prediction._meta.db_table])
        (estimated_rows,) = cursor.fetchone()
    assert estimated_rows == len(ids)  # ANALYZE ran: without it the planner plans for a table it has never seen
