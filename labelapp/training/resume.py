"""What a training round trains: the engine configs a project asks for, and the trainer and pre-trainer
resumed for it: warm in this worker process when they equal the checkpoint on disk (hard links share one
file, so a propagated version's shared checkpoint still matches), else loaded from it, else fresh. A
checkpoint whose project-level settings differ (classes added, backbone, size or channels changed) is
not resumed: the round starts a fresh model instead of crashing on mismatched shapes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from labelapp.projects.models import Project
from labelapp.training.cache import checkpoint_local
from labelapp.training.models import ModelVersion
from labelapp.training.versions import file_identity
from sslengine import PretrainConfig, Pretrainer, TrainConfig, Trainer

logger = logging.getLogger(__name__)

PROJECT_CONFIG_FIELDS = ("num_classes", "algorithm", "backbone", "in_channels", "image_size", "threshold", "seed")


@dataclass
class WarmTrainer:
    """A trainer kept in this worker process after a successful round, with the checkpoint it equals."""

    project_id: int
    checkpoint: tuple[int, int, int] | None  # identity of the checkpoint file it equals (hard links share it)
    trainer: Trainer


@dataclass
class WarmPretrainer:
    """The pre-trainer kept in this worker process after a pre-training round, with the checkpoint it equals."""

    project_id: int
    checkpoint: tuple[int, int, int] | None
    pretrainer: Pretrainer


_warm: WarmTrainer | None = None

_warm_pretrainer: WarmPretrainer | None = None


def trainer_config(*, project: Project, num_classes: int) -> TrainConfig:
    """The engine config a project asks for (seed fixed, so rounds are reproducible on CPU).

    Progress callbacks come every step on CPU (slow steps: the bar still moves) and every 10 steps on
    a GPU (each callback syncs the device to read the losses). Only called inside a round: querying
    CUDA at import time would break a forking worker's children.
    """
    return TrainConfig(
        num_classes=num_classes,
        algorithm=project.algorithm,
        backbone=project.backbone,
        in_channels=project.in_channels,
        image_size=project.image_size,
        threshold=project.threshold,
        hflip=project.horizontal_flip,
        seed=0,
        log_every=10 if torch.cuda.is_available() else 1,
    )


def _same_project_config(a: TrainConfig, b: TrainConfig) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in PROJECT_CONFIG_FIELDS)


def trainer_resume(*, project: Project, base: ModelVersion | None, config: TrainConfig) -> Trainer:
    """The warm trainer when it equals the base checkpoint, else the base checkpoint, else a fresh trainer.

    A checkpoint whose project-level config differs (classes added, backbone or size changed) is not
    resumed: the round starts a fresh model instead of crashing on mismatched shapes.
    """
    global _warm
    warm, _warm = _warm, None  # a failing round must not leave a half-trained model behind
    if base is None:
        return Trainer(config)
    path = checkpoint_local(base.checkpoint)  # another host may have trained it
    if warm and warm.project_id == project.pk and warm.checkpoint is not None and warm.checkpoint == file_identity(path):
        if _same_project_config(warm.trainer.config, config):
            return warm.trainer
    if path.exists():
        trainer = Trainer.load(path)
        if _same_project_config(trainer.config, config):
            return trainer
        logger.info("project %s: config changed since v%s; training a fresh model", project.pk, base.number)
    return Trainer(config)


def pretrain_config(*, project: Project) -> PretrainConfig:
    """The pre-training config a project asks for (its backbone, size, channels and flip setting)."""
    return PretrainConfig(
        backbone=project.backbone,
        in_channels=project.in_channels,
        image_size=project.image_size,
        hflip=project.horizontal_flip,
        seed=0,
        log_every=10 if torch.cuda.is_available() else 1,
    )


def pretrainer_path(project_id: int) -> Path:
    """The project's one pre-training checkpoint (not per version: the encoder only moves forward)."""
    return checkpoint_local(f"{project_id}/pretrain.pt")


def _same_pretrain_config(a: PretrainConfig, b: PretrainConfig) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in ("backbone", "in_channels", "image_size"))


def trainer_keep_warm(*, project_id: int, trainer: Trainer, path: Path) -> None:
    """Keep ``trainer`` in this process as equal to the checkpoint of the version just published at ``path``."""
    global _warm
    _warm = WarmTrainer(project_id=project_id, checkpoint=file_identity(path), trainer=trainer)


def pretrainer_keep_warm(*, project_id: int, pretrainer: Pretrainer, path: Path) -> None:
    """Keep ``pretrainer`` in this process as equal to the checkpoint just saved at ``path``."""
    global _warm_pretrainer
    _warm_pretrainer = WarmPretrainer(project_id=project_id, checkpoint=file_identity(path), pretrainer=pretrainer)


def pretrainer_resume(*, project: Project) -> Pretrainer:
    """The warm pre-trainer when it equals the project's checkpoint, else the checkpoint, else a fresh one.

    A checkpoint of another backbone, size or channel count (the project's settings changed) is not
    resumed; the flip setting follows the project on resume.
    """
    global _warm_pretrainer
    warm, _warm_pretrainer = _warm_pretrainer, None
    config = pretrain_config(project=project)
    path = pretrainer_path(project.pk)
    identity = file_identity(path)
    if warm and warm.project_id == project.pk and identity is not None and warm.checkpoint == identity:
        pretrainer = warm.pretrainer
    elif identity is not None:
        pretrainer = Pretrainer.load(path)
    else:
        return Pretrainer(config)
    if not _same_pretrain_config(pretrainer.config, config):
        logger.info("project %s: image settings changed; pre-training a fresh encoder", project.pk)
        return Pretrainer(config)
    pretrainer.config.hflip = config.hflip
    return pretrainer


def trainer_from_encoder(*, project: Project, trainer: Trainer) -> bool:
    """Initialise a fresh trainer's backbone from the project's pre-trained encoder; ``False`` without one
    (or one of another backbone, size or channel count)."""
    path = pretrainer_path(project.pk)
    if not path.exists():
        return False
    warm = _warm_pretrainer
    same = warm is not None and warm.project_id == project.pk and warm.checkpoint == file_identity(path)
    pretrainer = warm.pretrainer if warm is not None and same else Pretrainer.load(path)
    if not _same_pretrain_config(pretrainer.config, PretrainConfig(
        backbone=trainer.config.backbone, in_channels=trainer.config.in_channels, image_size=trainer.config.image_size
    )):
        return False
    trainer.load_encoder(pretrainer.encoder_state_dict())
    return True
