"""The interface every semi-supervised algorithm implements, and the batch it receives."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..backbones import Network
from ..config import TrainConfig


@dataclass(frozen=True)
class AlgorithmOptions:
    """Base of the options an algorithm owns (its ``options_type``); this base itself has none.

    Each algorithm declares a frozen subclass in its own file, with the paper's defaults, and checks
    it in :meth:`problems`; ``TrainConfig.algorithm_options`` holds the chosen algorithm's instance
    and checkpoints store it beside the trainer-level config. ``legacy_names`` maps the flat
    ``TrainConfig`` field names of format-1 checkpoints onto this class's fields (old runs resume).
    """

    legacy_names: ClassVar[Mapping[str, str]] = {}

    def __post_init__(self) -> None:
        errors = self.problems()
        if errors:
            raise ValueError(f"invalid {type(self).__name__}: " + "; ".join(errors))

    def problems(self) -> list[str]:
        """Messages for the values that would train silently wrong (none: valid)."""
        return []

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, safe to store in a checkpoint or a JSON file."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlgorithmOptions:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error, not silently dropped."""
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**data)


def rampup_problems(rampup_steps: int) -> list[str]:
    """The check of the ramp-up length shared by the consistency methods' options."""
    return [] if rampup_steps >= 0 else ["rampup_steps must be >= 0"]


@dataclass
class Batch:
    """One training step's inputs, already augmented, on the training device.

    ``unlabeled_weak``/``unlabeled_strong`` are ``None`` for algorithms that ignore unlabeled data.
    """

    labeled: torch.Tensor  # float [B, C, H, W], weak view
    labels: torch.Tensor  # int64 [B]
    labeled_index: torch.Tensor  # int64 [B]: rows of this fit's labeled set (rows of memory banks)
    unlabeled_weak: torch.Tensor | None = None  # float [mu*B, C, H, W]
    unlabeled_strong: torch.Tensor | None = None  # float [mu*B, C, H, W]
    # Rows of this fit's unlabeled set. Per-image state is keyed by image id across fits and laid out
    # in this fit's row order by ``prepare_unlabeled`` (:func:`~.functional.align_rows`), so a step
    # indexes it by these rows.
    unlabeled_index: torch.Tensor | None = None  # int64 [mu*B]
    # More views of the same unlabeled images, fresh randomness each, one per name in
    # ``Algorithm.extra_unlabeled_views`` ("weak" or "strong"): MixMatch's K guesses, a 2nd strong view
    unlabeled_extra: list[torch.Tensor] = field(default_factory=list)
    step: int = 0  # the trainer's global_step when this batch is trained (ramp-ups, phase switches)

    def num_images(self) -> int:
        """Images forwarded through the network in this step (the images/s numerator)."""
        total = self.labeled.shape[0]
        for part in (self.unlabeled_weak, self.unlabeled_strong, *self.unlabeled_extra):
            total += 0 if part is None else part.shape[0]
        return total


class Algorithm:
    """Base class: a loss over a :class:`Batch` plus whatever state the method keeps between steps."""

    uses_unlabeled: bool = True  # False: the trainer draws no unlabeled batch at all
    uses_strong: bool = True  # False: the trainer builds no strong view (``unlabeled_strong`` is None)
    extra_unlabeled_views: tuple[str, ...] = ()  # more views per unlabeled image ("weak"/"strong")
    options_type: ClassVar[type[AlgorithmOptions]] = AlgorithmOptions  # the algorithm's own options

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.options = config.algorithm_options  # an instance of ``options_type`` (TrainConfig checks it)
        self.ema_model: Network | None = None  # set by the trainer: its EMA weights (a teacher)
        # The trainer's global step from which the EMA's decay warm-up counts (see
        # :func:`~sslengine.trainer.ema_decay_at`); an algorithm that restarts the EMA from fresh
        # weights moves it (Noisy Student's re-initialised student) and checkpoints it.
        self.ema_warmup_from = 0

    def projection_dim(self) -> int:
        """Size of the projection head the network needs (``Network.project``); 0: none."""
        return 0

    def build_modules(self, model: Network) -> nn.Module | None:
        """Trainable modules the method adds beside the network (ReMixMatch's rotation head), or None.

        Called once by the trainer, right after it built ``model`` (same seeded RNG) and before it
        copies it into the EMA network; the trainer optimises their parameters with the network's.
        The algorithm keeps them and stores their weights in its :meth:`state_dict`. It may also set
        up the network's parameter-free training noise here (Noisy Student's stochastic depth).
        """
        return None

    def prepare(self, model: Network, labeled_images: torch.Tensor, labels: torch.Tensor, labeled_ids: torch.Tensor) -> None:
        """Called at the start of every ``fit`` with that call's labeled set (uint8, on device) and
        its image ids (int64, unique, on device; keys of per-image state such as memory banks)."""

    def prepare_unlabeled(self, model: Network, unlabeled_images: torch.Tensor, unlabeled_ids: torch.Tensor) -> None:
        """Called after :meth:`prepare` with that call's unlabeled set and its image ids: lay per-image
        state out for these ids here (:func:`~.functional.align_rows`: new ids start empty, gone ones drop)."""

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        """Return ``{"loss": differentiable scalar, <name>: detached scalar, ...}``."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Tensors and values to store in a checkpoint (memory banks, running means)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def to(self, device: torch.device) -> Algorithm:
        """Move any state tensors to ``device``."""
        return self
