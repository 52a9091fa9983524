"""Training in rounds: ``fit`` a budget of steps or seconds, resuming where the last round stopped."""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .algorithms import Algorithm, Batch, create_algorithm
from .augment import strong_augment, weak_augment
from .backbones import BackboneSpec, Network, build_network, load_encoder_into
from .checkpoint import atomic_save, generators_restore, generators_state, load_checkpoint
from .config import TrainConfig
from .inference import Predictions, predict, recalibrate_batchnorm

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, dict[str, float]], None]
# 2: the algorithm's options stored beside the trainer-level config, per-image state keyed by image id.
# 1 (every algorithm's options flat in the config, per-image state by row) still loads, best effort:
# see :meth:`Trainer.from_state`.
CHECKPOINT_FORMAT = 2
LEGACY_CHECKPOINT_FORMAT = 1


@dataclass
class FitResult:
    """What one ``fit`` call did."""

    steps: int  # optimizer steps in this call
    global_step: int  # optimizer steps since the model was created, across fits and resumes
    seconds: float  # wall time of the training loop
    images_per_second: float  # images forwarded in training steps (labeled + weak + strong) per second
    scalars: dict[str, float] = field(default_factory=dict)  # means over the call: loss, loss_x, ...


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` → CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cosine_lr(config: TrainConfig, step: int) -> float:
    """FixMatch's lr · cos(7πk / 16K) with K = ``schedule_steps``; constant at its final value after K."""
    k = min(step, config.schedule_steps)
    return config.lr * math.cos(7.0 * math.pi * k / (16.0 * config.schedule_steps))


def ema_decay_at(config: TrainConfig, step: int) -> float:
    """EMA decay with warm-up: min(ema_decay, (1 + step) / (10 + step)), ``step`` counted from the
    EMA's start (the algorithm's ``ema_warmup_from``: 0 unless it restarted the EMA)."""
    return min(config.ema_decay, (1.0 + step) / (10.0 + step))


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on conv/linear weights only, not on BatchNorm parameters or biases."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class Trainer:
    """Semi-supervised trainer: FixMatch-style SGD with EMA weights, resumable from atomic checkpoints.

    The optimizer is SGD with Nesterov momentum and FixMatch's cosine schedule (Sohn et al., 2020),
    see :func:`cosine_lr`; evaluation and :meth:`predict` use the EMA weights (with the warm-up of
    :func:`ema_decay_at`). During training the EMA network carries the trained network's BatchNorm
    statistics; at the end of every ``fit`` they are re-estimated for the EMA weights on the unlabeled
    images (:func:`~sslengine.inference.recalibrate_batchnorm`, "precise BN"). On CUDA the
    network runs in bf16 autocast; on CPU in float32, reproducibly for a seed. Networks and batches
    are channels_last on every device (oneDNN's CPU convolutions are ~25 % faster that way too).
    """

    def __init__(
        self, config: TrainConfig, device: str | torch.device | None = None, algorithm: Algorithm | None = None
    ) -> None:
        """``algorithm`` replaces the registered ``config.algorithm`` (knowledge distillation trains a
        student with a loss that needs a teacher, :mod:`sslengine.distill`); ``None`` builds the registered one."""
        config.validate()
        self.config = config
        self.device = resolve_device(device)
        self.algorithm: Algorithm = (algorithm or create_algorithm(config)).to(self.device)
        spec = BackboneSpec(config.in_channels, config.image_size, config.bn_momentum, config.pretrained_path)
        proj_dim = self.algorithm.projection_dim()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = build_network(config.backbone, spec, config.num_classes, proj_dim)
            algorithm_modules = self.algorithm.build_modules(model)
        self.model: Network = model.to(self.device, memory_format=torch.channels_last)  # type: ignore[call-overload]
        trainable = nn.ModuleList([self.model] if algorithm_modules is None else [self.model, algorithm_modules.to(self.device)])
        self.ema_model: Network = copy.deepcopy(self.model).eval()
        self.ema_model.requires_grad_(False)
        self.algorithm.ema_model = self.ema_model
        self.optimizer = torch.optim.SGD(
            _param_groups(trainable, config.weight_decay),
            lr=config.lr,
            momentum=config.momentum,
            nesterov=True,
        )
        self.global_step = 0
        self.sample_generator = torch.Generator().manual_seed(config.seed)
        self.augment_generator = torch.Generator(device=self.device).manual_seed(config.seed + 1)

    @property
    def _use_cuda(self) -> bool:
        return self.device.type == "cuda"


    # ---- training ------------------------------------------------------------------------------

    def fit(
        self,
        labeled_images: torch.Tensor,
        labels: torch.Tensor,
        unlabeled_images: torch.Tensor | None = None,
        steps: int | None = None,
        seconds: float | None = None,
        on_progress: ProgressCallback | None = None,
        *,
        labeled_ids: torch.Tensor | None = None,
        unlabeled_ids: torch.Tensor | None = None,
    ) -> FitResult:
        """Train for exactly one budget (``steps`` optimizer steps or ``seconds`` of wall time).

        Images are uint8 NCHW at the config's size; ``unlabeled_images`` may include the labeled
        ones (the app passes every image). An empty or missing unlabeled set falls back to the
        labeled images (and their ids). Continues from ``global_step`` (schedule, EMA, RNG,
        algorithm state).

        ``labeled_ids``/``unlabeled_ids`` (int64, one unique id per image) name the images across
        fits: per-image state (FlexMatch's learning status, Temporal Ensembling's ensemble,
        SimMatch's labeled bank) follows the id, so images may be deleted, added or re-ordered
        between fits. Without them an image's id is its row, which is only right while the set
        only grows at the end.
        """
        if (steps is None) == (seconds is None):
            raise ValueError("pass exactly one of steps= or seconds=")
        labeled, labels = self._check_images(labeled_images, "labeled_images"), self._check_labels(labels, labeled_images)
        labeled_ids = self._check_ids(labeled_ids, labeled.shape[0], "labeled_ids")
        if unlabeled_images is None or unlabeled_images.shape[0] == 0:
            unlabeled, unlabeled_ids = labeled, labeled_ids
        else:
            unlabeled = self._check_images(unlabeled_images, "unlabeled_images")
            unlabeled_ids = self._check_ids(unlabeled_ids, unlabeled.shape[0], "unlabeled_ids")
        self.algorithm.prepare(self.model, labeled, labels, labeled_ids)
        self.algorithm.prepare_unlabeled(self.model, unlabeled, unlabeled_ids)
        self.model.train()
        planned = int(steps) if steps is not None else 0
        totals: dict[str, torch.Tensor] = {}
        images = 0
        done = 0
        start = time.perf_counter()
        while (done < planned) if steps is not None else (time.perf_counter() - start < float(seconds or 0.0)):
            batch = self._draw_batch(labeled, labels, unlabeled)
            scalars = self._step(batch)
            for name, value in scalars.items():
                totals[name] = totals.get(name, torch.zeros((), device=self.device)) + value.detach().float()
            images += batch.num_images()
            done += 1
            if on_progress is not None and done % self.config.log_every == 0:
                on_progress(done, planned, _means(totals, done))
        if self._use_cuda:
            torch.cuda.synchronize(self.device)  # kernels are asynchronous: time what actually ran
        elapsed = time.perf_counter() - start
        if done:  # after the timing: FitResult measures the training loop alone
            recalibrate_batchnorm(self.ema_model, unlabeled, self.config.bn_recalibration_images)
        return FitResult(
            steps=done,
            global_step=self.global_step,
            seconds=elapsed,
            images_per_second=images / elapsed if elapsed > 0 else 0.0,
            scalars=_means(totals, done),
        )

    def _check_images(self, images: torch.Tensor, name: str) -> torch.Tensor:
        cfg = self.config
        expected = (cfg.in_channels, cfg.image_size, cfg.image_size)
        if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"{name} must be uint8 [N, {expected[0]}, {expected[1]}, {expected[2]}], got {images.dtype} {tuple(images.shape)}")
        if images.shape[0] == 0:
            raise ValueError(f"{name} is empty")
        return images.to(self.device, non_blocking=True)

    def _check_ids(self, ids: torch.Tensor | None, count: int, name: str) -> torch.Tensor:
        if ids is None:
            return torch.arange(count, device=self.device)
        ids = torch.as_tensor(ids)
        if ids.dtype != torch.int64 or ids.shape != (count,):
            raise ValueError(f"{name} must be int64 [{count}], got {ids.dtype} {tuple(ids.shape)}")
        if torch.unique(ids).numel() != count:
            raise ValueError(f"{name} must be unique (one id per image)")
        return ids.to(self.device, non_blocking=True)

    def _check_labels(self, labels: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape [{images.shape[0]}], got {tuple(labels.shape)}")
        if labels.min() < 0 or labels.max() >= self.config.num_classes:
            raise ValueError(f"labels must lie in [0, {self.config.num_classes})")
        return labels.to(self.device, non_blocking=True)

    def _draw_batch(self, labeled: torch.Tensor, labels: torch.Tensor, unlabeled: torch.Tensor) -> Batch:
        """Sample indices with replacement (stateless apart from the generator) and augment on device."""
        cfg = self.config
        index = torch.randint(0, labeled.shape[0], (cfg.batch_size,), generator=self.sample_generator).to(self.device)
        batch = Batch(
            labeled=self._layout(weak_augment(labeled[index], self.augment_generator, cfg.hflip)),
            labels=labels[index],
            labeled_index=index,
            step=self.global_step,
        )
        if self.algorithm.uses_unlabeled:
            count = cfg.batch_size * cfg.mu
            u_index = torch.randint(0, unlabeled.shape[0], (count,), generator=self.sample_generator).to(self.device)
            raw = unlabeled[u_index]
            batch.unlabeled_index = u_index
            batch.unlabeled_weak = self._layout(weak_augment(raw, self.augment_generator, cfg.hflip))
            if self.algorithm.uses_strong:
                batch.unlabeled_strong = self._layout(strong_augment(raw, self.augment_generator, cfg.hflip))
            views = {"weak": weak_augment, "strong": strong_augment}
            batch.unlabeled_extra = [
                self._layout(views[name](raw, self.augment_generator, cfg.hflip)) for name in self.algorithm.extra_unlabeled_views
            ]
        return batch

    def _layout(self, images: torch.Tensor) -> torch.Tensor:
        return images.contiguous(memory_format=torch.channels_last)

    def _step(self, batch: Batch) -> dict[str, torch.Tensor]:
        for group in self.optimizer.param_groups:
            group["lr"] = cosine_lr(self.config, self.global_step)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self._use_cuda):
            outputs = self.algorithm.train_step(self.model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        outputs["loss"].backward()
        self.optimizer.step()
        self._update_ema()
        self.global_step += 1
        return outputs

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = ema_decay_at(self.config, self.global_step - self.algorithm.ema_warmup_from)
        ema_params: list[torch.Tensor] = list(self.ema_model.parameters())
        torch._foreach_lerp_(ema_params, list(self.model.parameters()), 1.0 - decay)
        for ema_buffer, buffer in zip(self.ema_model.buffers(), self.model.buffers()):
            ema_buffer.copy_(buffer)

    def load_encoder(self, state: dict[str, Any]) -> None:
        """Initialise the backbone of both the trained and the EMA network from a pre-trained encoder
        (:meth:`sslengine.pretext.Pretrainer.encoder_state_dict`); the classifier head stays fresh.

        The encoder must have this config's backbone, ``in_channels`` and ``image_size`` (a
        ``ValueError`` otherwise, and nothing is changed). Call it before training: the optimizer's
        momentum is not reset.
        """
        cfg = self.config
        for network in (self.model, self.ema_model):
            load_encoder_into(network, state, cfg.backbone, cfg.in_channels, cfg.image_size)

    # ---- inference -----------------------------------------------------------------------------

    def predict(self, images: torch.Tensor, batch_size: int | None = None) -> Predictions:
        """Probabilities, confidence, margin, entropy and embeddings from the EMA weights."""
        return predict(self.ema_model, images, batch_size)

    def evaluate(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int | None = None) -> float:
        """Top-1 accuracy of the EMA weights."""
        predicted = self.predict(images, batch_size).predicted
        return float((predicted == torch.as_tensor(labels).cpu()).float().mean())

    # ---- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly where this trainer is: the trainer-level
        config and, beside it, the algorithm's own options (``algorithm_options``)."""
        config = self.config.to_dict()
        return {
            "format": CHECKPOINT_FORMAT,
            "config": config,
            "algorithm_options": config.pop("algorithm_options"),
            "global_step": self.global_step,
            "model": self.model.state_dict(),
            "ema_model": self.ema_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "algorithm": self.algorithm.state_dict(),
            "rng": generators_state(self.sample_generator, self.augment_generator, self.device),
        }

    def save(self, path: str | Path) -> None:
        """Atomic checkpoint: temp file in the same folder, fsync, os.replace."""
        atomic_save(self.state_dict(), path)

    @classmethod
    def load(
        cls, path: str | Path, device: str | torch.device | None = None, algorithm: Algorithm | None = None
    ) -> Trainer:
        """Rebuild a trainer (config, weights, EMA, optimizer, step, algorithm state, RNG) from ``save``;
        ``algorithm`` as in the constructor (it receives the saved algorithm state)."""
        return cls.from_state(load_checkpoint(path), device, algorithm, source=str(path))

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        device: str | torch.device | None = None,
        algorithm: Algorithm | None = None,
        source: str = "checkpoint",
    ) -> Trainer:
        """:meth:`load` from an already read :meth:`state_dict`.

        A format-1 checkpoint (written before algorithms owned their options) loads best effort:
        its flat config is split with :meth:`TrainConfig.from_flat_dict`, and weights, EMA,
        optimizer, step and RNG are restored, but the algorithm's state (memory banks, per-image
        tables keyed by row, running means) starts fresh, because its rows cannot be matched to
        image ids. A trainer passed as ``algorithm`` always receives its saved state.

        An optimizer state whose parameters do not match this trainer's (a checkpoint written before
        the algorithm gained trainable modules, such as ReMixMatch's rotation head) is not restored:
        the optimizer starts fresh (momentum buffers only; the schedule follows ``global_step``),
        with a logged warning.
        """
        config = checkpoint_config(state, source)
        trainer = cls(config, device, algorithm)
        trainer.model.load_state_dict(state["model"])
        trainer.ema_model.load_state_dict(state["ema_model"])
        try:
            trainer.optimizer.load_state_dict(state["optimizer"])
        except ValueError as error:  # other parameters: the algorithm's trainable modules changed since
            logger.warning("%s: optimizer state does not fit this trainer's parameters (%s); it starts fresh", source, error)
        if state["format"] == CHECKPOINT_FORMAT or algorithm is not None:
            trainer.algorithm.load_state_dict(state["algorithm"])
        else:
            logger.warning("%s: format-1 checkpoint; %s's own state starts fresh", source, config.algorithm)
        trainer.global_step = int(state["global_step"])
        generators_restore(state["rng"], trainer.sample_generator, trainer.augment_generator, trainer.device,
                           reseed=trainer.config.seed + 1 + trainer.global_step)
        return trainer


def checkpoint_config(state: dict[str, Any], source: str = "checkpoint") -> TrainConfig:
    """The :class:`TrainConfig` (with its algorithm's options) of a :meth:`Trainer.state_dict`, of
    either checkpoint format (:data:`CHECKPOINT_FORMAT`, :data:`LEGACY_CHECKPOINT_FORMAT`)."""
    checkpoint_format = state.get("format")
    if checkpoint_format == CHECKPOINT_FORMAT:
        return TrainConfig.from_dict({**state["config"], "algorithm_options": state["algorithm_options"]})
    if checkpoint_format == LEGACY_CHECKPOINT_FORMAT:
        return TrainConfig.from_flat_dict(state["config"])
    raise ValueError(f"{source}: unsupported checkpoint format {checkpoint_format!r}")


def _means(totals: dict[str, torch.Tensor], count: int) -> dict[str, float]:
    return {name: float(total) / max(count, 1) for name, total in totals.items()}
