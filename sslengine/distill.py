"""Knowledge distillation of a trained teacher into a smaller, faster student (DeiT's two losses).

Touvron et al., "Training data-efficient image transformers & distillation through attention",
ICML 2021 (DeiT), section 4, with ψ the softmax, ``Z_s``/``Z_t`` the student's/teacher's logits:

* hard-label distillation ``L = ½·CE(ψ(Z_s), y) + ½·CE(ψ(Z_s), y_t)`` with ``y_t = argmax Z_t``;
* soft distillation ``L = (1−λ)·CE(ψ(Z_s), y) + λτ²·KL(ψ(Z_s/τ), ψ(Z_t/τ))`` (Hinton et al. 2015),
  with the paper's τ = 3, λ = 0.1 as defaults. KL is Hinton's direction, KL(teacher ‖ student).

The transfer set is the app's labeled **and** unlabeled images. An unlabeled image has no ``y``: there
the teacher's hard label stands in for it (``y := y_t``), so hard distillation on it is
``CE(ψ(Z_s), y_t)`` and soft distillation ``(1−λ)·CE(ψ(Z_s), y_t) + λτ²·KL(…)``; every image of a
batch weighs the same.

Where this departs from DeiT: the student is a CNN with one classification head, so there is no
distillation token (DeiT's table 3 reports the same losses on the class token alone, "usual
distillation"); and the teacher's outputs are computed **once**, on the un-augmented images, before
training ("offline" distillation) instead of on each augmented crop. That makes an ensemble of teachers
or test-time augmentation cost one pass over the pool instead of one per step, and lets a distillation
resume from its checkpoint without the teacher; the student still sees a fresh weak view
(flip + translate) of every image at every step. The student is a plain :class:`~sslengine.Trainer`
(same optimiser, schedule, EMA and "precise BN" as training) whose algorithm is
:class:`DistillationLoss`, so it fits in steps or seconds, resumes from its checkpoint, reports
progress, predicts and exports exactly as a trained model does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .algorithms import Algorithm, Batch
from .augment import to_float
from .backbones import Network, list_backbones
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .inference import inference_batch_size
from .trainer import Trainer, checkpoint_config

MODES = ("hard", "soft")
UNLABELED = -1  # label of a transfer-set image without a human label: the teacher's label stands in
# The student's TrainConfig needs a registered algorithm name; its loss is replaced by DistillationLoss.
PLACEHOLDER_ALGORITHM = "supervised"


@dataclass(frozen=True)
class DistillOptions:
    """How to distil; stored in the student's checkpoint."""

    student: str = "cnn-small"  # any registered backbone
    mode: str = "hard"  # "hard" (DeiT's hard-label distillation) or "soft" (Hinton's KD)
    temperature: float = 3.0  # τ of soft distillation (DeiT's value)
    soft_weight: float = 0.1  # λ of soft distillation (DeiT's value)

    def validate(self) -> None:
        errors = []
        if self.student not in list_backbones():
            errors.append(f"unknown student backbone {self.student!r}; registered: {list_backbones()}")
        if self.mode not in MODES:
            errors.append(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.temperature <= 0.0:
            errors.append("temperature must be > 0")
        if not 0.0 <= self.soft_weight <= 1.0:
            errors.append("soft_weight must be in [0, 1]")
        if errors:
            raise ValueError("invalid DistillOptions: " + "; ".join(errors))


@dataclass
class TeacherTargets:
    """The teacher's log-probabilities, one row per image of the labeled and of the unlabeled set.

    Rows follow the order of the tensors later passed to ``fit`` (``labeled_images``, ``unlabeled_images``).
    """

    labeled: torch.Tensor  # float32 [L, K]
    unlabeled: torch.Tensor  # float32 [U, K]


def _resolve_labels(labels: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Human labels, with the teacher's argmax where a row is :data:`UNLABELED`."""
    return torch.where(labels == UNLABELED, teacher_logits.argmax(dim=1), labels)


def hard_distillation_loss(student_logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """``½·CE(ψ(Z_s), y) + ½·CE(ψ(Z_s), y_t)``, ``y_t = argmax Z_t``, averaged over the batch.

    ``labels`` may hold :data:`UNLABELED` (−1): those rows use ``y = y_t``, i.e. ``CE(ψ(Z_s), y_t)``.
    """
    teacher_labels = teacher_logits.argmax(dim=1)
    labels = _resolve_labels(labels, teacher_logits)
    return 0.5 * F.cross_entropy(student_logits, labels) + 0.5 * F.cross_entropy(student_logits, teacher_labels)


def soft_distillation_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float,
    soft_weight: float,
) -> torch.Tensor:
    """``(1−λ)·CE(ψ(Z_s), y) + λτ²·KL(ψ(Z_t/τ) ‖ ψ(Z_s/τ))``, each term averaged over the batch.

    ``labels`` may hold :data:`UNLABELED` (−1): those rows use ``y = argmax Z_t``.
    """
    labels = _resolve_labels(labels, teacher_logits)
    cross_entropy = F.cross_entropy(student_logits, labels)
    kl = F.kl_div(
        F.log_softmax(student_logits / temperature, dim=1),
        F.log_softmax(teacher_logits / temperature, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return (1.0 - soft_weight) * cross_entropy + soft_weight * temperature**2 * kl


def _shifted(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Float NCHW images translated by (dy, dx) pixels, edges replicated (label-safe for digits and text)."""
    if dy == 0 and dx == 0:
        return images
    pad = max(abs(dy), abs(dx))
    padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    h, w = images.shape[-2:]
    return padded[..., pad - dy : pad - dy + h, pad - dx : pad - dx + w]


def tta_shifts(image_size: int) -> list[tuple[int, int]]:
    """Test-time views: the image and four translations by 1/16 of its side (at least one pixel).

    No flips: a horizontal flip changes the class of digits, letters and many medical images.
    """
    step = max(1, image_size // 16)
    return [(0, 0), (step, 0), (-step, 0), (0, step), (0, -step)]


@torch.no_grad()
def teacher_log_probs(
    teachers: Sequence[Network], images: torch.Tensor, tta: bool = False, batch_size: int | None = None
) -> torch.Tensor:
    """log of the mean probability over ``teachers`` (an ensemble) and, with ``tta``, over :func:`tta_shifts`.

    uint8 NCHW images in; float32 [N, K] CPU log-probabilities out (usable as logits: the softmax of
    them is the mean probability).
    """
    if not teachers:
        raise ValueError("at least one teacher is needed")
    shifts = tta_shifts(int(images.shape[-1])) if tta else [(0, 0)]
    batch_size = inference_batch_size(next(teachers[0].parameters()).device, batch_size)
    rows = []
    for start in range(0, images.shape[0], batch_size):
        total = None
        for teacher in teachers:
            device = next(teacher.parameters()).device
            was_training = teacher.training
            teacher.eval()
            chunk = to_float(images[start : start + batch_size].to(device))
            for dy, dx in shifts:
                view = _shifted(chunk, dy, dx).contiguous(memory_format=torch.channels_last)
                probs = teacher(view).float().softmax(dim=1).cpu()
                total = probs if total is None else total + probs
            teacher.train(was_training)
        assert total is not None
        rows.append((total / (len(teachers) * len(shifts))).clamp_min(1e-12).log())
    if not rows:
        raise ValueError("no images to label with the teacher")
    return torch.cat(rows)


def teacher_targets(
    teachers: Sequence[Trainer | Network],
    labeled_images: torch.Tensor,
    unlabeled_images: torch.Tensor,
    tta: bool = False,
    batch_size: int | None = None,
) -> TeacherTargets:
    """:class:`TeacherTargets` from trained trainers (their EMA networks) or networks."""
    networks = [t.ema_model if isinstance(t, Trainer) else t for t in teachers]
    return TeacherTargets(
        labeled=teacher_log_probs(networks, labeled_images, tta, batch_size),
        unlabeled=teacher_log_probs(networks, unlabeled_images, tta, batch_size),
    )


class DistillationLoss(Algorithm):
    """DeiT's hard or soft distillation loss (see the module docstring) as the student trainer's algorithm.

    A step forwards ``batch_size`` weak views of labeled images (with their human labels) and
    ``batch_size · mu`` weak views of unlabeled ones (:data:`UNLABELED`) in one batch; the teacher's
    outputs are looked up by row in :class:`TeacherTargets`, which are kept in the checkpoint.
    """

    uses_strong = False
    options: DistillOptions  # type: ignore[assignment]  # not a registered algorithm: its options come beside the config

    def __init__(self, config: TrainConfig, options: DistillOptions, targets: TeacherTargets) -> None:
        super().__init__(config)
        options.validate()
        self.options = options
        self.targets = targets
        self._check_classes()

    def _check_classes(self) -> None:
        for name, rows in (("labeled", self.targets.labeled), ("unlabeled", self.targets.unlabeled)):
            if rows.dim() != 2 or rows.shape[1] != self.config.num_classes:
                raise ValueError(f"{name} teacher targets must be [N, {self.config.num_classes}], got {tuple(rows.shape)}")

    def prepare(self, model: Network, labeled_images: torch.Tensor, labels: torch.Tensor, labeled_ids: torch.Tensor) -> None:
        self._check_rows("labeled", labeled_images, self.targets.labeled)

    def prepare_unlabeled(self, model: Network, unlabeled_images: torch.Tensor, unlabeled_ids: torch.Tensor) -> None:
        self._check_rows("unlabeled", unlabeled_images, self.targets.unlabeled)

    @staticmethod
    def _check_rows(name: str, images: torch.Tensor, rows: torch.Tensor) -> None:
        if images.shape[0] != rows.shape[0]:
            raise ValueError(
                f"the teacher's targets cover {rows.shape[0]} {name} images but fit got {images.shape[0]}: "
                "pass the images the targets were computed for, in the same order"
            )

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None and batch.unlabeled_index is not None
        logits = model(torch.cat([batch.labeled, batch.unlabeled_weak])).float()
        teacher = torch.cat(
            [self.targets.labeled[batch.labeled_index], self.targets.unlabeled[batch.unlabeled_index]]
        )
        unlabeled = torch.full_like(batch.unlabeled_index, UNLABELED)
        labels = torch.cat([batch.labels, unlabeled])
        opts = self.options
        if opts.mode == "hard":
            loss = hard_distillation_loss(logits, labels, teacher)
        else:
            loss = soft_distillation_loss(logits, labels, teacher, opts.temperature, opts.soft_weight)
        agreement = (logits.detach().argmax(dim=1) == teacher.argmax(dim=1)).float().mean()
        return {"loss": loss, "teacher_agreement": agreement}

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "distillation",
            "options": dataclasses.asdict(self.options),
            "targets": {"labeled": self.targets.labeled.cpu(), "unlabeled": self.targets.unlabeled.cpu()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.options = DistillOptions(**state["options"])
        device = self.targets.labeled.device
        self.targets = TeacherTargets(state["targets"]["labeled"].to(device), state["targets"]["unlabeled"].to(device))
        self._check_classes()

    def to(self, device: torch.device) -> DistillationLoss:
        self.targets = TeacherTargets(self.targets.labeled.to(device), self.targets.unlabeled.to(device))
        return self


def student_config(teacher_config: TrainConfig, options: DistillOptions) -> TrainConfig:
    """The teacher's config (classes, input, optimiser, schedule, seed) with the student's backbone."""
    options.validate()
    return dataclasses.replace(
        teacher_config,
        algorithm=PLACEHOLDER_ALGORITHM,
        algorithm_options={},
        backbone=options.student,
        pretrained_path=None,
    )


def distillation_trainer(
    teacher_config: TrainConfig,
    options: DistillOptions,
    targets: TeacherTargets,
    device: str | torch.device | None = None,
) -> Trainer:
    """A fresh student :class:`Trainer` whose ``fit`` distils ``targets`` (call it with the same images)."""
    config = student_config(teacher_config, options)
    return Trainer(config, device, DistillationLoss(config, options, targets))


def load_distillation(path: str | Path, device: str | torch.device | None = None) -> Trainer:
    """Resume a student saved with ``Trainer.save``: weights, EMA, optimizer, step, RNG, options, targets."""
    state = load_checkpoint(path)
    algorithm_state = state.get("algorithm", {})
    if algorithm_state.get("kind") != "distillation":
        raise ValueError(f"{path} is not a distillation checkpoint")
    config = checkpoint_config(state, str(path))
    targets = algorithm_state["targets"]
    algorithm = DistillationLoss(config, DistillOptions(**algorithm_state["options"]), TeacherTargets(targets["labeled"], targets["unlabeled"]))
    return Trainer.from_state(state, device, algorithm, source=str(path))


def distillation_options(trainer: Trainer) -> DistillOptions | None:
    """The options of a student trainer; ``None`` for a trainer that was not distilled."""
    return trainer.algorithm.options if isinstance(trainer.algorithm, DistillationLoss) else None
