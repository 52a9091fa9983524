"""Noisy Student: Xie et al., "Self-training with Noisy Student improves ImageNet classification",
CVPR 2020."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import BackboneSpec, Network, build_network, set_stochastic_depth
from ..config import TrainConfig
from .base import Algorithm, AlgorithmOptions, Batch
from .fixmatch import masked_pseudo_label_loss
from .registry import register_algorithm


@dataclass(frozen=True)
class NoisyStudentOptions(AlgorithmOptions):
    """Noisy Student's own options."""

    teacher_refresh_steps: int = 100  # a new teacher every this many steps (and every fit); 0 = every fit only
    student_dropout: float = 0.5  # dropout on the student's embedding (model noise; the paper's 0.5)
    reinit: bool = True  # a freshly initialised student every teacher round (the paper's procedure)
    # Stochastic depth on the student: survival probability of its last residual block, decaying
    # linearly from 1 at the input (Huang et al. 2016); the paper's 0.8. 1 = off (the default, as the
    # default backbone cnn-small has no residual blocks); below 1 needs wrn-28-2 or resnet18.
    student_survival: float = 1.0

    legacy_names = {"teacher_refresh_steps": "teacher_refresh_steps", "student_dropout": "student_dropout"}

    def problems(self) -> list[str]:
        checks = [
            (self.teacher_refresh_steps >= 0, "teacher_refresh_steps must be >= 0"),
            (0.0 <= self.student_dropout < 1.0, "student_dropout must be in [0, 1)"),
            (0.0 < self.student_survival <= 1.0, "student_survival must be in (0, 1]"),
        ]
        return [message for ok, message in checks if not ok]


@register_algorithm("noisystudent")
class NoisyStudent(Algorithm):
    """Noisy Student self-training (Xie et al., CVPR 2020), mapped onto the app's training rounds.

    One teacher → student iteration per teacher round: at the start of every ``fit`` (and every
    ``teacher_refresh_steps`` global steps within a long one) the teacher becomes a frozen copy of
    the trainer's EMA weights, i.e. the model whose predictions the app has just published. The
    teacher, unnoised (eval mode, weak view), gives soft pseudo-labels; images whose teacher
    confidence reaches ``threshold`` are kept. Before the first teacher round the teacher is the
    untrained network, whose predictions never reach τ: those first steps train on the labels alone,
    like the paper's first teacher.

    With ``reinit`` (the paper's procedure) the student is re-initialised at every
    teacher round that follows trained steps: its weights become those of a freshly built network
    (the configured backbone, seeded by the config's seed and the round), and the trainer's EMA
    restarts from them, its decay warm-up too (``ema_warmup_from``: at the trainer's 0.999 a 300-step
    student would otherwise be evaluated as an EMA still 74 % made of its fresh initialisation). The
    student is trained with noise: strong RandAugment views of the unlabeled images, dropout
    (``student_dropout``) on the embedding and, with ``student_survival`` < 1, stochastic depth on
    the residual blocks (:func:`~sslengine.backbones.set_stochastic_depth`: the paper's 0.8 for the
    last block, decaying linearly; wrn-28-2 and resnet18), on labeled cross-entropy + ``lambda_u`` ·
    soft cross-entropy to the teacher. The teacher and the published
    EMA weights are never noised: they run in eval mode, where dropout is not applied and every
    residual branch is kept. Dropout masks and drop-path draws come from one checkpointed generator.

    Where this departs from the paper: the student has the teacher's size. The paper allows equal
    size and gains from it, but its best students are larger; a larger student does not fit the
    trainer cleanly: the trainer owns one network of one backbone (``TrainConfig.backbone``), and its
    optimizer, EMA, checkpoint and what the app publishes and exports are all built for that
    architecture, while a student larger than its teacher changes the architecture between teacher
    rounds (the trainer would have to rebuild network, EMA and optimizer mid-``fit``, and checkpoints
    record a backbone per round). A larger network for every round is ``TrainConfig.backbone``
    itself. Stochastic depth is off by default (the default backbone, ``cnn-small``, has no residual
    blocks, and a silent no-op would hide that). The optimizer's momentum buffers are not cleared at
    a re-initialisation (they fade within ~10 steps at momentum 0.9); the learning rate follows the
    trainer's one cosine schedule rather than restarting per student. The confidence filter is the
    trainer's τ (``TrainConfig.threshold``, 0.95 by default), not the paper's 0.3. The teacher is not
    checkpointed: a resumed trainer takes it from the restored EMA weights at its next ``fit``.
    """

    options_type = NoisyStudentOptions
    options: NoisyStudentOptions

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.teacher: Network | None = None
        self.rounds = 0  # teacher rounds begun (seeds each re-initialised student)
        self.next_step = 0  # the trainer's global step of the next train_step (where a re-init restarts the EMA)
        self.generator = torch.Generator().manual_seed(config.seed + 7919)  # dropout masks and drop paths, checkpointed

    def _dropout(self, features: torch.Tensor) -> torch.Tensor:
        keep = 1.0 - self.options.student_dropout
        mask = (torch.rand(features.shape, generator=self.generator) < keep).to(features.device, features.dtype)
        return features * mask / keep

    def build_modules(self, model: Network) -> nn.Module | None:
        """No modules of its own: switches on the student's stochastic depth (``student_survival`` < 1)."""
        survival = self.options.student_survival
        if survival < 1.0:
            try:
                set_stochastic_depth(model, survival, self.generator)
            except ValueError as error:
                raise ValueError(f"noisystudent student_survival={survival}: {error}; backbone is {self.config.backbone!r}") from None
        return None

    def prepare(self, model: Network, labeled_images: torch.Tensor, labels: torch.Tensor, labeled_ids: torch.Tensor) -> None:
        self._new_teacher(model)

    def _new_teacher(self, model: Network) -> None:
        """Freeze the EMA as the teacher; re-initialise the student if it has been trained."""
        source = self.ema_model if self.ema_model is not None else model
        self.teacher = copy.deepcopy(source).eval()
        self.teacher.requires_grad_(False)
        if self.options.reinit and self.rounds > 0:
            self._reinitialise(model)
        self.rounds += 1

    @torch.no_grad()
    def _reinitialise(self, model: Network) -> None:
        cfg = self.config
        spec = BackboneSpec(cfg.in_channels, cfg.image_size, cfg.bn_momentum, cfg.pretrained_path)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + 1000 * (self.rounds + 1))
            fresh = build_network(cfg.backbone, spec, cfg.num_classes)
        model.load_state_dict(fresh.state_dict())
        if self.ema_model is not None:
            self.ema_model.load_state_dict(fresh.state_dict())
        self.ema_warmup_from = self.next_step

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None and batch.unlabeled_strong is not None
        cfg = self.config
        refresh = self.options.teacher_refresh_steps
        if self.teacher is None or (refresh and batch.step > 0 and batch.step % refresh == 0):
            self._new_teacher(model)
        assert self.teacher is not None
        with torch.no_grad():
            teacher_probs = self.teacher(batch.unlabeled_weak).float().softmax(dim=1)
            mask = (teacher_probs.max(dim=1).values >= cfg.threshold).float()
        self.next_step = batch.step + 1
        num_labeled = batch.labeled.shape[0]
        features = model.features(torch.cat([batch.labeled, batch.unlabeled_strong]))
        logits = model.head(self._dropout(features)).float()
        loss_x = F.cross_entropy(logits[:num_labeled], batch.labels)
        loss_u = masked_pseudo_label_loss(logits[num_labeled:], teacher_probs, mask)
        loss = loss_x + cfg.lambda_u * loss_u
        return {"loss": loss, "loss_x": loss_x.detach(), "loss_u": loss_u.detach(), "mask_ratio": mask.mean()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "rounds": self.rounds,
            "next_step": self.next_step,
            "ema_warmup_from": self.ema_warmup_from,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.rounds = int(state.get("rounds", 1))
        # checkpoints from before the EMA restart: the warm-up counted from step 0 (and will again)
        self.next_step = int(state.get("next_step", 0))
        self.ema_warmup_from = int(state.get("ema_warmup_from", 0))
