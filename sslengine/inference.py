"""Batched inference: probabilities, confidence, margin, entropy and embeddings for every image."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .augment import to_float
from .backbones import Network

_ModuleT = TypeVar("_ModuleT", bound=torch.nn.Module)

CPU_BATCH = 64
"""Images per inference batch on a CPU. Measured at one thread on the 2-core CPU (2 MiB L2 per core,
32 MiB L3; benchmarks/speed/inference_batch.py, RESULTS.md "Inference batch size on a CPU"), CPU-seconds
of ``predict`` at batch 64 against 512, weights channels_last as :class:`sslengine.Trainer` keeps them:
cnn-small −27 % (gray 28 px) and −42 % (RGB 32 px), cnn-dw −17 %, wrn-28-2 −42 % (RGB 32 px); batch 32
within ±15 % of 64. With NCHW weights batch 512 cost 1.7-2.3× batch 64: a large batch's activations
spill out of the caches."""
GPU_BATCH = 512  # an accelerator wants wide batches


def inference_batch_size(device: torch.device, batch_size: int | None = None) -> int:
    """``batch_size`` if given, else :data:`CPU_BATCH` or :data:`GPU_BATCH` for ``device``."""
    if batch_size is not None:
        return batch_size
    return GPU_BATCH if device.type == "cuda" else CPU_BATCH


@dataclass
class Predictions:
    """Per-image outputs of a model, as CPU tensors (row i belongs to input image i)."""

    probs: torch.Tensor  # float32 [N, K]
    predicted: torch.Tensor  # int64 [N], argmax class
    confidence: torch.Tensor  # float32 [N], top-1 probability
    margin: torch.Tensor  # float32 [N], top-1 minus top-2 probability
    entropy: torch.Tensor  # float32 [N], in nats
    embeddings: torch.Tensor  # float32 [N, D], the backbone's pooled features

    @classmethod
    def from_probs(cls, probs: torch.Tensor, embeddings: torch.Tensor) -> Predictions:
        """Derive the per-image scores from class probabilities."""
        probs = probs.float()
        top = probs.topk(min(2, probs.shape[1]), dim=1).values
        entropy = -(probs * probs.clamp_min(1e-12).log()).sum(dim=1)
        return cls(
            probs=probs,
            predicted=probs.argmax(dim=1),
            confidence=top[:, 0],
            margin=top[:, 0] - top[:, 1],
            entropy=entropy,
            embeddings=embeddings.float(),
        )

    def __len__(self) -> int:
        return int(self.probs.shape[0])


def fold_batchnorm(model: _ModuleT) -> _ModuleT:
    """An eval-mode copy of ``model`` in which every Conv2d directly followed by a BatchNorm2d inside an
    ``nn.Sequential`` carries the normalisation in its own weights and bias (the BatchNorm becomes an
    identity): the same function up to float rounding, one pass over the activations fewer per layer.

    Ioffe & Szegedy (2015) note that at inference BatchNorm is a fixed affine map; folding it into the
    preceding convolution is what ONNX Runtime and TensorRT do at load time. Pre-activation blocks (a
    BatchNorm before its convolution, as in WRN) are left as they are.
    """
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, torch.nn.Sequential):
            continue
        children = list(module._modules.items())
        for (conv_name, conv), (norm_name, norm) in itertools.pairwise(children):
            if isinstance(conv, torch.nn.Conv2d) and isinstance(norm, torch.nn.BatchNorm2d) and norm.track_running_stats:
                module._modules[conv_name] = fuse_conv_bn_eval(conv, norm)
                module._modules[norm_name] = torch.nn.Identity()
    return folded


@torch.no_grad()
def predict(model: Network, images: torch.Tensor, batch_size: int | None = None) -> Predictions:
    """Run ``model`` in eval mode over uint8 NCHW ``images`` (any device) in batches of ``batch_size``
    (default: :func:`inference_batch_size`).

    On a GPU: bf16 autocast and channels_last. On a CPU (measured in benchmarks/training/round_at_scale.py):
    a BatchNorm-folded copy of the model (:func:`fold_batchnorm`) in plain NCHW float32, 25% fewer
    CPU-seconds than the unfolded model for cnn-small; channels_last, batches larger than :data:`CPU_BATCH`
    and ``torch.inference_mode`` (whose tensors refuse later in-place updates) did not help there.
    ``model`` itself is left untouched.
    """
    device = next(model.parameters()).device
    use_cuda = device.type == "cuda"
    batch_size = inference_batch_size(device, batch_size)
    network = model if use_cuda else fold_batchnorm(model)
    was_training = model.training
    network.eval()
    probs, embeddings = [], []
    try:
        for start in range(0, images.shape[0], batch_size):
            chunk = to_float(images[start : start + batch_size].to(device, non_blocking=True))
            if use_cuda:
                chunk = chunk.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_cuda):
                features = network.features(chunk)
                logits = network.head(features)
            probs.append(logits.float().softmax(dim=1).cpu())
            embeddings.append(features.float().cpu())
    finally:
        model.train(was_training)
    if not probs:
        raise ValueError("predict() needs at least one image")
    return Predictions.from_probs(torch.cat(probs), torch.cat(embeddings))


def nearest_neighbours(embeddings: torch.Tensor, k: int, block: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities and indices [N, k] of every row's k nearest other rows (itself excluded),
    by blockwise matrix products and top-k, so memory stays at ``block`` × N."""
    points = F.normalize(embeddings.float(), dim=1)
    n = points.shape[0]
    k = min(k, n - 1)
    similarities, indices = [], []
    for start in range(0, n, block):
        scores = points[start : start + block] @ points.T
        rows = torch.arange(start, min(start + block, n))
        scores[torch.arange(rows.numel()), rows] = float("-inf")
        top = scores.topk(k, dim=1)
        similarities.append(top.values)
        indices.append(top.indices)
    return torch.cat(similarities), torch.cat(indices)


def _batchnorms(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_batchnorm(model: Network, images: torch.Tensor, count: int, batch_size: int = 256) -> int:
    """Re-estimate every BatchNorm's running statistics of ``model`` on up to ``count`` of ``images``.

    "Precise BN" (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021): the statistics become the plain
    average over evenly spaced images, un-augmented as at prediction time, computed with the model's own
    weights. An EMA of weights paired with the statistics of the latest raw weights (what a FixMatch-style
    EMA keeps) can disagree badly after a short round on new labels. Only the BatchNorm layers are put in
    training mode: every other layer (stochastic depth's :class:`~sslengine.backbones.DropPath`) runs as
    at prediction time. Weights, mode and momentum are left as they were; no random numbers are drawn.
    Returns how many images were used (0: nothing changed).
    """
    norms = _batchnorms(model)
    if count <= 0 or not norms or images.shape[0] == 0:
        return 0
    device = next(model.parameters()).device
    index = torch.linspace(0, images.shape[0] - 1, min(count, images.shape[0])).round().long()  # steps >= 1: distinct
    saved = [(m, m.momentum) for m in norms]
    was_training = model.training
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # cumulative average: every batch weighs the same
    model.eval()
    for module in norms:
        module.train()
    try:
        for start in range(0, index.numel(), batch_size):
            chunk = to_float(images[index[start : start + batch_size]].to(device, non_blocking=True))
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                model(chunk.contiguous(memory_format=torch.channels_last))
    finally:
        for module, momentum in saved:
            module.momentum = momentum
        model.train(was_training)
    return int(index.numel())
