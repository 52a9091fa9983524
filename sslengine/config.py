"""Typed training configuration shared by the trainer, the algorithms and the benchmark CLI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored inside every checkpoint.

    Defaults follow FixMatch (Sohn et al., NeurIPS 2020) for the optimiser and loss weights, and
    SimMatch (Zheng et al., CVPR 2022) for its own options. The EMA warm-up and BatchNorm momentum
    depart from the papers on purpose: the product retrains in short rounds that must already be
    useful, so the EMA and BN statistics must settle within tens of steps (see ``ema_decay``).
    """

    num_classes: int
    algorithm: str = "fixmatch"
    backbone: str = "cnn-small"
    in_channels: int = 3  # 1 (grayscale) or 3 (RGB)
    image_size: int = 32  # images arrive square, uint8, NCHW, already at this size
    # Horizontal flips in the augmented views; off by default because a flip changes the class of
    # digits, letters and arrows (the app passes the project's setting)
    hflip: bool = False
    threshold: float = 0.95  # tau: a pseudo-label counts only when its max probability reaches this
    batch_size: int = 16  # labeled images per step
    mu: int = 7  # unlabeled images per labeled image in a step
    lambda_u: float = 1.0  # weight of the unlabeled (pseudo-label) loss; 0 switches it off
    lr: float = 0.03
    momentum: float = 0.9  # SGD with Nesterov momentum
    weight_decay: float = 5e-4  # applied to conv/linear weights, not to BatchNorm or biases
    # Cosine decay lr * cos(7*pi*k / (16*K)) over this horizon K of optimizer steps (FixMatch's
    # schedule); after the horizon the learning rate stays at its final value lr * cos(7*pi/16),
    # because the product keeps training the same model round after round.
    schedule_steps: int = 20_000
    # EMA of weights used for evaluation and prediction, with a warm-up:
    # decay = min(ema_decay, (1 + step) / (10 + step)), so a round of a few hundred steps is already
    # averaged over its own recent steps instead of being stuck near the random initialisation.
    ema_decay: float = 0.999
    # Images (evenly spaced over the unlabeled set) on which the EMA network's BatchNorm statistics are
    # re-estimated after every fit ("precise BN", Wu & Johnson 2021); 0 keeps the trained network's.
    # Without it the label-efficiency curves swung by up to 14 points from one round to the next.
    bn_recalibration_images: int = 4096
    bn_momentum: float = 0.1  # PyTorch's default; WRN's usual 0.001 leaves short runs at chance
    # SimMatch options
    temperature: float = 0.1  # T of the instance similarity softmax
    smoothing_alpha: float = 0.9  # alpha: weight of the class prediction in label propagation
    lambda_in: float = 1.0  # weight of the instance-consistency loss
    proj_dim: int = 128  # size of the low-dimensional embedding kept in the labeled memory bank
    bank_momentum: float = 0.7  # memory bank entry = normalise(m * old + (1 - m) * new)
    da_len: int = 32  # distribution alignment: batches in the running mean of predictions
    # Backbone options
    pretrained_path: str | None = None  # local weights file for resnet18; nothing is downloaded
    seed: int = 0
    log_every: int = 10  # on_progress is called every this many steps
    # Options of the other algorithms (sslengine/algorithms/<name>.py); paper defaults unless noted.
    # Unlabeled-loss weights are each paper's weight times lambda_u (lambda_u = 1 gives the paper's).
    sharpen_temperature: float = 0.5  # T of MixMatch/ReMixMatch label-guess sharpening
    mixup_alpha: float = 0.75  # MixUp's Beta(alpha, alpha); lambda' = max(lambda, 1 - lambda)
    num_augmentations: int = 2  # K: weak views averaged by MixMatch's guess, strong views of ReMixMatch
    # Linear-in-exp ramp-up exp(-5 (1 - t/R)^2) of the consistency weight over R steps (Laine & Aila);
    # short on purpose: the product's rounds are short (the papers ramp over ~1/3 of 1M steps)
    rampup_steps: int = 300
    uda_temperature: float = 0.4  # UDA's sharpening temperature of the weak view's prediction
    vat_xi: float = 1e-6  # VAT: finite-difference step of the power iteration
    vat_eps: float = 2.0  # VAT: L2 norm of the adversarial perturbation (images in [0, 1]; MNIST's 2.0)
    vat_iterations: int = 1  # VAT: power iterations
    vat_entropy_weight: float = 0.0  # VAT: weight of entropy minimisation (VAT+EntMin uses 1); 0 = off
    ensemble_momentum: float = 0.6  # Temporal Ensembling's alpha
    # SelfMatch: steps of SimCLR pre-training (sslengine.pretext) before the first FixMatch step
    pretrain_steps: int = 100
    simclr_temperature: float = 0.5  # SelfMatch: NT-Xent temperature of that pre-training
    teacher_refresh_steps: int = 100  # Noisy Student: a new teacher every this many steps (and every fit)
    student_dropout: float = 0.5  # Noisy Student: dropout on the student's embedding (model noise)
    flexmatch_warmup: bool = True  # FlexMatch: threshold warm-up (unused images count as a class)
    freematch_momentum: float = 0.999  # FreeMatch: EMA momentum of the self-adaptive thresholds
    freematch_fairness_weight: float = 0.001  # FreeMatch: weight of the self-adaptive fairness loss
    # h16learn options (paper features of the seed methods; validated by each algorithm)
    # UDA's training signal annealing: "exp", "linear", "log" or "none" (Xie et al. 2020 recommend
    # exp when labels are few); the horizon is schedule_steps
    uda_tsa: str = "exp"
    remixmatch_rotation_weight: float = 0.5  # ReMixMatch: λ_r of the rotation-prediction loss; 0 = off
    noisy_student_reinit: bool = True  # Noisy Student: a freshly initialised student every teacher round
    # MixMatch: steps of λu's linear ramp-up, in the paper's absolute length (16k steps = 1024k images
    # at batch 64); the shared 300-step rampup_steps raised λu to 100 within one short round and hurt
    mixmatch_rampup_steps: int = 16_384

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Fail loudly on values that would otherwise train silently wrong."""
        checks: list[tuple[bool, str]] = [
            (self.num_classes >= 2, "num_classes must be >= 2"),
            (self.in_channels in (1, 3), "in_channels must be 1 or 3"),
            (self.image_size >= 8, "image_size must be >= 8"),
            (0.0 < self.threshold <= 1.0, "threshold must be in (0, 1]"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.mu >= 1, "mu must be >= 1"),
            (self.lambda_u >= 0.0, "lambda_u must be >= 0"),
            (self.lambda_in >= 0.0, "lambda_in must be >= 0"),
            (self.lr > 0.0, "lr must be > 0"),
            (0.0 <= self.momentum < 1.0, "momentum must be in [0, 1)"),
            (self.weight_decay >= 0.0, "weight_decay must be >= 0"),
            (self.schedule_steps >= 1, "schedule_steps must be >= 1"),
            (0.0 <= self.ema_decay < 1.0, "ema_decay must be in [0, 1)"),
            (0.0 < self.bn_momentum <= 1.0, "bn_momentum must be in (0, 1]"),
            (self.bn_recalibration_images >= 0, "bn_recalibration_images must be >= 0"),
            (self.temperature > 0.0, "temperature must be > 0"),
            (0.0 <= self.smoothing_alpha <= 1.0, "smoothing_alpha must be in [0, 1]"),
            (self.proj_dim >= 2, "proj_dim must be >= 2"),
            (0.0 <= self.bank_momentum < 1.0, "bank_momentum must be in [0, 1)"),
            (self.da_len >= 1, "da_len must be >= 1"),
            (self.log_every >= 1, "log_every must be >= 1"),
            (self.sharpen_temperature > 0.0, "sharpen_temperature must be > 0"),
            (self.mixup_alpha > 0.0, "mixup_alpha must be > 0"),
            (self.num_augmentations >= 1, "num_augmentations must be >= 1"),
            (self.rampup_steps >= 0, "rampup_steps must be >= 0"),
            (self.uda_temperature > 0.0, "uda_temperature must be > 0"),
            (self.vat_xi > 0.0 and self.vat_eps > 0.0, "vat_xi and vat_eps must be > 0"),
            (self.vat_iterations >= 1, "vat_iterations must be >= 1"),
            (self.vat_entropy_weight >= 0.0, "vat_entropy_weight must be >= 0"),
            (0.0 <= self.ensemble_momentum < 1.0, "ensemble_momentum must be in [0, 1)"),
            (self.pretrain_steps >= 0, "pretrain_steps must be >= 0"),
            (self.simclr_temperature > 0.0, "simclr_temperature must be > 0"),
            (self.teacher_refresh_steps >= 0, "teacher_refresh_steps must be >= 0"),
            (0.0 <= self.student_dropout < 1.0, "student_dropout must be in [0, 1)"),
            (0.0 <= self.freematch_momentum < 1.0, "freematch_momentum must be in [0, 1)"),
            (self.freematch_fairness_weight >= 0.0, "freematch_fairness_weight must be >= 0"),
        ]
        errors = [message for ok, message in checks if not ok]
        from .algorithms import list_algorithms
        from .backbones import list_backbones

        if self.algorithm not in list_algorithms():
            errors.append(f"unknown algorithm {self.algorithm!r}; registered: {list_algorithms()}")
        if self.backbone not in list_backbones():
            errors.append(f"unknown backbone {self.backbone!r}; registered: {list_backbones()}")
        if errors:
            raise ValueError("invalid TrainConfig: " + "; ".join(errors))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, safe to store in a checkpoint or a JSON file."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return cls(**data)
