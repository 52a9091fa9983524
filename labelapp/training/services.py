"""The training app's writes, as other apps and scripts call them. Each concern lives in its own module:

- :mod:`labelapp.training.rounds`: the round (pre-train or train, metrics, run, execute) and the label
  propagation;
- :mod:`labelapp.training.resume`: the engine configs a project asks for and the warm/checkpointed
  trainer and pre-trainer a round resumes;
- :mod:`labelapp.training.versions`: version writes (publish, flip, prune, pin, rollback, prediction rows);
- :mod:`labelapp.training.chain`: the job chain (enqueue rounds and propagations, training on and off).
"""

from __future__ import annotations

from labelapp.training.chain import (
    PROPAGATION_JOB,
    PROPAGATION_QUEUE,
    ROUND_JOB,
    project_round_seconds,
    propagation_enqueue,
    propagation_enqueue_on_commit,
    round_enqueue,
    round_enqueue_on_commit,
    round_job_timeout,
    training_start,
    training_stop,
    version_latest_number,
)
from labelapp.training.resume import pretrain_config, pretrainer_path, trainer_config
from labelapp.training.rounds import (
    NoImages,
    RoundOutcome,
    TrainingLabels,
    class_names,
    holdout_assign,
    labels_propagate,
    propagation_run,
    round_execute,
    round_metrics,
    round_phase,
    round_run,
    training_labels,
)
from labelapp.training.versions import (
    Publication,
    StaleBase,
    VersionUnavailable,
    prediction_rows_write,
    project_rollback,
    version_pin,
    version_publish,
    versions_prune,
)

__all__ = [
    "PROPAGATION_JOB", "PROPAGATION_QUEUE", "ROUND_JOB", "NoImages", "Publication", "RoundOutcome", "StaleBase",
    "TrainingLabels", "VersionUnavailable", "class_names", "holdout_assign", "labels_propagate",
    "prediction_rows_write", "pretrain_config", "pretrainer_path", "project_rollback", "project_round_seconds",
    "propagation_enqueue", "propagation_enqueue_on_commit", "propagation_run", "round_enqueue",
    "round_enqueue_on_commit", "round_execute", "round_job_timeout", "round_metrics", "round_phase", "round_run",
    "trainer_config", "training_labels", "training_start", "training_stop", "version_latest_number", "version_pin",
    "version_publish", "versions_prune",
]
