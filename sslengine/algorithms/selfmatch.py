"""SelfMatch: Kim et al., "SelfMatch: Combining Contrastive Self-Supervision and Consistency for
Semi-Supervised Learning", NeurIPS 2020 Workshop on Self-Supervised Learning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..backbones import Network, load_encoder_into
from ..config import TrainConfig
from .base import AlgorithmOptions
from .fixmatch import FixMatch
from .registry import register_algorithm


@dataclass(frozen=True)
class SelfMatchOptions(AlgorithmOptions):
    """SelfMatch's own options."""

    pretrain_steps: int = 100  # SimCLR pre-training steps before the first FixMatch step; 0 = none
    simclr_temperature: float = 0.5  # NT-Xent temperature of that pre-training (SimCLR's CIFAR-10 value)

    legacy_names = {"pretrain_steps": "pretrain_steps", "simclr_temperature": "simclr_temperature"}

    def problems(self) -> list[str]:
        checks = [
            (self.pretrain_steps >= 0, "pretrain_steps must be >= 0"),
            (self.simclr_temperature > 0.0, "simclr_temperature must be > 0"),
        ]
        return [message for ok, message in checks if not ok]


@register_algorithm("selfmatch")
class SelfMatch(FixMatch):
    """SelfMatch (Kim et al., 2020): SimCLR pre-training of the backbone, then FixMatch from it.

    At the start of the first ``fit`` (before its first step) the unlabeled images pre-train a
    SimCLR encoder for ``pretrain_steps`` steps with :class:`sslengine.pretext.Pretrainer`
    (NT-Xent temperature ``simclr_temperature``; the trainer's backbone, input shape, flips and seed;
    the other options are :class:`~sslengine.pretext.PretrainConfig`'s defaults); its encoder then
    initialises both the trained and the EMA network, and every step is FixMatch's. The pre-training
    steps are not part of the fit's budget of steps or seconds. Departure from the paper: the
    pre-training is a short fixed number of steps (the paper pre-trains for hundreds of epochs); a
    product that pre-trains for longer uses the Pretrainer itself and ``Trainer.load_encoder``.
    """

    options_type = SelfMatchOptions
    options: SelfMatchOptions

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.pretrained = self.options.pretrain_steps == 0

    def prepare_unlabeled(self, model: Network, unlabeled_images: torch.Tensor, unlabeled_ids: torch.Tensor) -> None:
        super().prepare_unlabeled(model, unlabeled_images, unlabeled_ids)
        if self.pretrained:
            return
        # imported here: sslengine.pretext imports the trainer, which imports the algorithms
        from ..pretext import PretrainConfig, Pretrainer

        cfg = self.config
        pretrainer = Pretrainer(
            PretrainConfig(
                backbone=cfg.backbone,
                in_channels=cfg.in_channels,
                image_size=cfg.image_size,
                temperature=self.options.simclr_temperature,
                hflip=cfg.hflip,
                bn_momentum=cfg.bn_momentum,
                seed=cfg.seed,
            ),
            device=unlabeled_images.device,
        )
        pretrainer.fit(unlabeled_images, steps=self.options.pretrain_steps)
        encoder = pretrainer.encoder_state_dict()
        for network in (model, self.ema_model):
            if network is not None:
                load_encoder_into(network, encoder, cfg.backbone, cfg.in_channels, cfg.image_size)
        self.pretrained = True

    def state_dict(self) -> dict[str, Any]:
        return {"pretrained": self.pretrained}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # checkpoints from before pre-training moved to sslengine.pretext carry no flag: never redo it
        self.pretrained = bool(state.get("pretrained", True))
