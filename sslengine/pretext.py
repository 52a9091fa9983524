"""Self-supervised pre-training on unlabeled uint8 images, registered by name, resumable like ``fit``.

The product learns the pool before the first label: the encoder trained here gives every image an
embedding (cold-start selection, label propagation) and initialises the semi-supervised model
(:meth:`sslengine.trainer.Trainer.load_encoder`).

``simclr`` is SimCLR (Chen et al., ICML 2020): two views per image (random resized crop, flip only
where allowed, colour distortion, blur; :func:`sslengine.augment.simclr_augment`), a 2-layer MLP
projection head and the NT-Xent loss over the 2N views of a batch. Departures from the paper, for a
CPU and short rounds: Adam at a constant learning rate instead of LARS with warm-up and cosine decay
(the pool keeps growing and pre-training keeps resuming, so there is no horizon to decay over), batch
256 instead of 4096, crop scale from 0.2 instead of 0.08 (small images lose whole objects).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .algorithms.functional import nt_xent
from .augment import simclr_augment, to_float
from .backbones import ENCODER_FORMAT, BackboneSpec, Network, build_network, list_backbones
from .checkpoint import atomic_save, generators_restore, generators_state, load_checkpoint
from .inference import inference_batch_size, nearest_neighbours
from .registry import Registry
from .trainer import resolve_device

ProgressCallback = Callable[[int, int, dict[str, float]], None]
PRETRAIN_CHECKPOINT_FORMAT = 1
KNN_NEIGHBOURS = 20


@dataclass
class PretrainConfig:
    """Everything that defines a pre-training run; stored inside every pre-training checkpoint."""

    method: str = "simclr"
    backbone: str = "cnn-small"
    in_channels: int = 3  # 1 (grayscale) or 3 (RGB)
    image_size: int = 32  # images arrive square, uint8, NCHW, already at this size
    batch_size: int = 256  # images per step (2 views each); capped at the pool size
    lr: float = 1e-3  # Adam; 0 trains nothing (BatchNorm statistics still adapt): a control for tests
    weight_decay: float = 1e-6
    temperature: float = 0.5  # NT-Xent temperature (SimCLR's CIFAR-10 setting)
    proj_dim: int = 128  # output of the projection head (discarded after pre-training)
    hflip: bool = False  # horizontal flips in the views: off for digits, text, arrows
    bn_momentum: float = 0.1
    seed: int = 0
    log_every: int = 10  # on_progress is called every this many steps

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Fail loudly on values that would otherwise train silently wrong."""
        checks: list[tuple[bool, str]] = [
            (self.in_channels in (1, 3), "in_channels must be 1 or 3"),
            (self.image_size >= 8, "image_size must be >= 8"),
            (self.batch_size >= 2, "batch_size must be >= 2 (NT-Xent needs negatives)"),
            (self.lr >= 0.0, "lr must be >= 0"),
            (self.weight_decay >= 0.0, "weight_decay must be >= 0"),
            (self.temperature > 0.0, "temperature must be > 0"),
            (self.proj_dim >= 2, "proj_dim must be >= 2"),
            (0.0 < self.bn_momentum <= 1.0, "bn_momentum must be in (0, 1]"),
            (self.log_every >= 1, "log_every must be >= 1"),
        ]
        errors = [message for ok, message in checks if not ok]
        if self.method not in list_pretexts():
            errors.append(f"unknown pretext method {self.method!r}; registered: {list_pretexts()}")
        if self.backbone not in list_backbones():
            errors.append(f"unknown backbone {self.backbone!r}; registered: {list_backbones()}")
        if errors:
            raise ValueError("invalid PretrainConfig: " + "; ".join(errors))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, safe to store in a checkpoint or a JSON file."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PretrainConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown PretrainConfig fields: {sorted(unknown)}")
        return cls(**data)


class PretextMethod:
    """A self-supervised loss over a batch of uint8 images; ``loss`` returns ``{"loss", scalars...}``."""

    def __init__(self, config: PretrainConfig) -> None:
        self.config = config

    def loss(self, network: Network, images: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError


PRETEXTS: Registry[type[PretextMethod]] = Registry("pretext method")
register_pretext = PRETEXTS.register


def list_pretexts() -> list[str]:
    """Names accepted by ``PretrainConfig.method``."""
    return PRETEXTS.names()


@register_pretext("simclr")
class SimCLR(PretextMethod):
    """SimCLR (Chen et al., ICML 2020): NT-Xent between two augmented views of every image."""

    def loss(self, network: Network, images: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        hflip = self.config.hflip
        views = torch.cat([simclr_augment(images, generator, hflip), simclr_augment(images, generator, hflip)])
        projected = network.project(network.features(views.contiguous(memory_format=torch.channels_last)))
        z1, z2 = projected.float().chunk(2)
        loss = nt_xent(z1, z2, self.config.temperature)
        with torch.no_grad():  # how often a view's nearest other view is its pair (1 = solved)
            similarity = z1 @ z2.T
            pair_accuracy = (similarity.argmax(dim=1) == torch.arange(z1.shape[0], device=z1.device)).float().mean()
        return {"loss": loss, "pair_accuracy": pair_accuracy}


@dataclass
class PretrainResult:
    """What one :meth:`Pretrainer.fit` call did."""

    steps: int  # optimizer steps in this call
    global_step: int  # optimizer steps since the encoder was created, across fits and resumes
    seconds: float  # wall time of the training loop
    epochs: float = 0.0  # passes over the images given to this call, counted since the encoder was created
    scalars: dict[str, float] = field(default_factory=dict)  # means over the call: loss, pair_accuracy


class Pretrainer:
    """Self-supervised pre-training of a registered backbone, in rounds that resume exactly.

    ``fit`` trains one budget (steps or seconds) on the images it is given (which may grow between
    calls); ``save``/``load`` continue the same run (weights, optimizer, step, random generators).
    Each batch is ``batch_size`` distinct images drawn uniformly from the current pool.
    """

    def __init__(self, config: PretrainConfig, device: str | torch.device | None = None) -> None:
        config.validate()
        self.config = config
        self.device = resolve_device(device)
        self.method = PRETEXTS.get(config.method)(config)
        spec = BackboneSpec(config.in_channels, config.image_size, config.bn_momentum)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            network = build_network(config.backbone, spec, num_classes=1, proj_dim=config.proj_dim)
        network.head = nn.Identity()  # no classes here: only features and the projection head train
        self.network: Network = network.to(self.device, memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.global_step = 0
        self.images_seen = 0
        self.sample_generator = torch.Generator().manual_seed(config.seed)
        self.augment_generator = torch.Generator(device=self.device).manual_seed(config.seed + 1)

    def fit(
        self,
        images: torch.Tensor,
        *,
        steps: int | None = None,
        seconds: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> PretrainResult:
        """Train for exactly one budget (``steps`` or ``seconds`` of wall time) on uint8 ``images``."""
        if (steps is None) == (seconds is None):
            raise ValueError("pass exactly one of steps= or seconds=")
        pool = self._check_images(images)
        batch_size = min(self.config.batch_size, pool.shape[0])
        self.network.train()
        planned = int(steps) if steps is not None else 0
        totals: dict[str, torch.Tensor] = {}
        done = 0
        start = time.perf_counter()
        while (done < planned) if steps is not None else (time.perf_counter() - start < float(seconds or 0.0)):
            index = torch.randperm(pool.shape[0], generator=self.sample_generator)[:batch_size].to(self.device)
            scalars = self._step(pool[index])
            for name, value in scalars.items():
                totals[name] = totals.get(name, torch.zeros((), device=self.device)) + value.detach().float()
            self.images_seen += batch_size
            done += 1
            if on_progress is not None and done % self.config.log_every == 0:
                on_progress(done, planned, {**_means(totals, done), "epoch": self.images_seen / pool.shape[0]})
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return PretrainResult(
            steps=done,
            global_step=self.global_step,
            seconds=time.perf_counter() - start,
            epochs=self.images_seen / pool.shape[0],
            scalars=_means(totals, done),
        )

    def _check_images(self, images: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        expected = (cfg.in_channels, cfg.image_size, cfg.image_size)
        if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"images must be uint8 [N, {expected[0]}, {expected[1]}, {expected[2]}], got {images.dtype} {tuple(images.shape)}")
        if images.shape[0] < 2:
            raise ValueError(f"pre-training needs at least 2 images, got {images.shape[0]}")
        return images.to(self.device, non_blocking=True)

    def _step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        use_cuda = self.device.type == "cuda"
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=use_cuda):
            outputs = self.method.loss(self.network, batch, self.augment_generator)
        self.optimizer.zero_grad(set_to_none=True)
        outputs["loss"].backward()
        self.optimizer.step()
        self.global_step += 1
        return outputs

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """The backbone's pooled features (eval mode) of uint8 ``images``, float32 [N, D] on the CPU:
        the same space as :attr:`sslengine.inference.Predictions.embeddings`; batches as in
        :func:`sslengine.inference.inference_batch_size`."""
        batch_size = inference_batch_size(self.device, batch_size)
        was_training = self.network.training
        self.network.eval()
        chunks = []
        for start in range(0, images.shape[0], batch_size):
            chunk = to_float(images[start : start + batch_size].to(self.device, non_blocking=True))
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
                features = self.network.features(chunk.contiguous(memory_format=torch.channels_last))
            chunks.append(features.float().cpu())
        self.network.train(was_training)
        if not chunks:
            raise ValueError("embed() needs at least one image")
        return torch.cat(chunks)

    def encoder_state_dict(self) -> dict[str, Any]:
        """The backbone's weights and BatchNorm statistics (no projection head), with the backbone name
        and input shape they belong to: the argument of :meth:`Trainer.load_encoder`."""
        weights = {
            name: tensor.detach().cpu().clone()
            for name, tensor in self.network.state_dict().items()
            if not name.startswith("projector.")
        }
        return {
            "format": ENCODER_FORMAT,
            "backbone": self.config.backbone,
            "in_channels": self.config.in_channels,
            "image_size": self.config.image_size,
            "weights": weights,
        }

    # ---- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue pre-training exactly where this pretrainer is."""
        return {
            "format": PRETRAIN_CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "global_step": self.global_step,
            "images_seen": self.images_seen,
            "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": generators_state(self.sample_generator, self.augment_generator, self.device),
        }

    def save(self, path: str | Path) -> None:
        """Atomic checkpoint: temp file in the same folder, fsync, os.replace."""
        atomic_save(self.state_dict(), path)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> Pretrainer:
        """Rebuild a pretrainer from :meth:`save`; the next ``fit`` continues the same run."""
        state = load_checkpoint(path)
        if state.get("format") != PRETRAIN_CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: unsupported pre-training checkpoint format {state.get('format')!r}")
        pretrainer = cls(PretrainConfig.from_dict(state["config"]), device)
        pretrainer.network.load_state_dict(state["network"])
        pretrainer.optimizer.load_state_dict(state["optimizer"])
        pretrainer.global_step = int(state["global_step"])
        pretrainer.images_seen = int(state["images_seen"])
        generators_restore(state["rng"], pretrainer.sample_generator, pretrainer.augment_generator, pretrainer.device,
                           reseed=pretrainer.config.seed + 1 + pretrainer.global_step)
        return pretrainer


@torch.no_grad()
def embedding_quality(embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, float]:
    """Figures for progress messages. Always ``uniformity`` (Wang & Isola, ICML 2020:
    log E exp(−2‖zᵢ − zⱼ‖²) over L2-normalised embeddings of up to 2,048 evenly spaced rows; lower is
    more spread out, 0 is a collapsed encoder); with ``labels`` also ``knn_accuracy``: leave-one-out
    majority vote of the 20 nearest neighbours by cosine similarity (ties to the lower class)."""
    embeddings = embeddings.float()
    sample = torch.linspace(0, embeddings.shape[0] - 1, min(2048, embeddings.shape[0])).round().long()
    z = F.normalize(embeddings[sample], dim=1)
    squared = torch.cdist(z, z).pow(2)
    off_diagonal = ~torch.eye(z.shape[0], dtype=torch.bool)
    quality = {"uniformity": float(squared[off_diagonal].mul(-2.0).exp().mean().log())} if z.shape[0] > 1 else {}
    if labels is not None:
        labels = torch.as_tensor(labels, dtype=torch.int64).cpu()
        if labels.shape != (embeddings.shape[0],):
            raise ValueError(f"labels must have shape [{embeddings.shape[0]}], got {tuple(labels.shape)}")
        _, neighbours = nearest_neighbours(embeddings, KNN_NEIGHBOURS)
        votes = F.one_hot(labels[neighbours], int(labels.max()) + 1).sum(dim=1)
        quality["knn_accuracy"] = float((votes.argmax(dim=1) == labels).float().mean())
    return quality


def _means(totals: dict[str, torch.Tensor], count: int) -> dict[str, float]:
    return {name: float(total) / max(count, 1) for name, total in totals.items()}
