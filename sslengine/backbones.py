"""Backbones behind one contract: ``features(x) -> embedding [N, D]``, ``head(embedding) -> logits``.

Inputs are float images in [0, 1], NCHW; each network normalises them itself, so callers (the
trainer, inference, exports) never need to know per-backbone statistics. BatchNorm momentum is set
from the config (default 0.1, see :class:`sslengine.config.TrainConfig`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Registry

if TYPE_CHECKING:
    from torchvision.models.resnet import BasicBlock


@dataclass(frozen=True)
class BackboneSpec:
    """What a backbone factory needs to know about the data."""

    in_channels: int
    image_size: int
    bn_momentum: float = 0.1
    pretrained_path: str | None = None


@dataclass
class Body:
    """A feature extractor, its output width and the input statistics it expects."""

    module: nn.Module
    feature_dim: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


BACKBONES: Registry[Callable[[BackboneSpec], Body]] = Registry("backbone")
register_backbone = BACKBONES.register


def list_backbones() -> list[str]:
    """Names accepted by ``TrainConfig.backbone``."""
    return BACKBONES.names()


class Network(nn.Module):
    """Backbone body + linear classifier head + optional projection head (SimMatch's embedding)."""

    mean: torch.Tensor  # buffers: per-channel normalisation of the body's expected input
    std: torch.Tensor
    head: nn.Module

    def __init__(self, body: Body, num_classes: int, proj_dim: int = 0) -> None:
        super().__init__()
        self.body = body.module
        self.feature_dim = body.feature_dim
        self.register_buffer("mean", torch.tensor(body.mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(body.std).view(1, -1, 1, 1))
        self.head = nn.Linear(body.feature_dim, num_classes)
        self.projector: nn.Module | None = None
        if proj_dim:
            self.projector = nn.Sequential(
                nn.Linear(body.feature_dim, body.feature_dim),
                nn.ReLU(inplace=True),
                nn.Linear(body.feature_dim, proj_dim),
            )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled embedding [N, D] of float images in [0, 1]."""
        return self.body((x - self.mean) / self.std)

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """L2-normalised low-dimensional embedding (needs ``proj_dim > 0``)."""
        if self.projector is None:
            raise RuntimeError("this network was built without a projection head")
        return F.normalize(self.projector(features), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


ENCODER_FORMAT = 1  # version of the dict made by sslengine.pretext.Pretrainer.encoder_state_dict


def load_encoder_into(network: Network, state: dict[str, Any], backbone: str, in_channels: int, image_size: int) -> None:
    """Copy :meth:`Pretrainer.encoder_state_dict` into ``network``'s backbone (its heads stay as they
    are); a different backbone, channel count or image size is a ``ValueError`` naming both."""
    if not isinstance(state, dict) or state.get("format") != ENCODER_FORMAT or "weights" not in state:
        raise ValueError("not an encoder state: pass Pretrainer.encoder_state_dict()")
    given = (state["backbone"], int(state["in_channels"]), int(state["image_size"]))
    expected = (backbone, in_channels, image_size)
    if given != expected:
        raise ValueError(
            f"encoder was pre-trained as (backbone, in_channels, image_size) = {given}, this model is {expected}"
        )
    own = network.state_dict()
    wanted = {name for name in own if not name.startswith(("head.", "projector."))}
    weights = state["weights"]
    misfits = sorted(wanted ^ set(weights)) + [
        name for name in wanted & set(weights) if tuple(weights[name].shape) != tuple(own[name].shape)
    ]
    if misfits:
        raise ValueError(f"encoder weights do not fit this backbone: {misfits[:5]}")
    network.load_state_dict(weights, strict=False)


def build_network(name: str, spec: BackboneSpec, num_classes: int, proj_dim: int = 0) -> Network:
    """Build a registered backbone with its heads and set every BatchNorm's momentum."""
    network = Network(BACKBONES.get(name)(spec), num_classes, proj_dim)
    for module in network.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = spec.bn_momentum
    return network


def _gray_or_rgb(values: tuple[float, float, float], channels: int) -> tuple[float, ...]:
    return values if channels == 3 else (sum(values) / 3.0,)


def _default_stats(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return _gray_or_rgb((0.5, 0.5, 0.5), channels), _gray_or_rgb((0.25, 0.25, 0.25), channels)


def _conv_bn_relu(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


@register_backbone("cnn-small")
def cnn_small(spec: BackboneSpec) -> Body:
    """Four 3×3 conv layers (16-32-64-128, the last three stride 2), 0.1M parameters, fast on a CPU.

    Width is what costs on a CPU: the same four layers at 32-64-128-128 take ~3× longer per step.
    """
    widths = (16, 32, 64, 128)
    layers: list[nn.Module] = _conv_bn_relu(spec.in_channels, widths[0], 1)
    for cin, cout in zip(widths[:-1], widths[1:]):
        layers += _conv_bn_relu(cin, cout, 2)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Body(nn.Sequential(*layers), widths[-1], *_default_stats(spec.in_channels))


def _depthwise_separable(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


@register_backbone("cnn-dw")
def cnn_dw(spec: BackboneSpec) -> Body:
    """A distillation student: a stride-2 3×3 stem, then three depthwise-separable blocks (MobileNet,
    Howard et al. 2017) of 32-64-128 channels (the last two stride 2); 14k parameters.

    About 8× fewer multiply-adds than ``cnn-small`` (the stem works at half resolution and every 3×3
    convolution is depthwise); on this CPU with onnxruntime at 28×28: 2.7× lower latency at batch 1
    and 30× at batch 64. Too small to learn well from few labels itself: it is meant to be distilled.
    """
    layers: list[nn.Module] = _conv_bn_relu(spec.in_channels, 16, 2)
    layers += _depthwise_separable(16, 32, 1) + _depthwise_separable(32, 64, 2) + _depthwise_separable(64, 128, 2)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Body(nn.Sequential(*layers), 128, *_default_stats(spec.in_channels))


class DropPath(nn.Module):
    """Stochastic depth on one residual branch (Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016).

    In training, each sample's branch is kept with probability ``survival`` (one Bernoulli draw per
    sample, from ``generator`` when set) and a kept branch is scaled by 1 / ``survival``; the block
    then adds the identity path as usual. Identity in eval mode and at ``survival`` = 1 (the default:
    every residual backbone carries these, inert, so the option changes no weights or checkpoint keys).
    Departs from the paper in where it scales: the paper multiplies the branch by ``survival`` at test
    time, this scales in training (the same expectation; inference stays untouched).
    """

    def __init__(self) -> None:
        super().__init__()
        self.survival = 1.0
        self.generator: torch.Generator | None = None

    def forward(self, branch: torch.Tensor) -> torch.Tensor:
        if not self.training or self.survival >= 1.0:
            return branch
        shape = (branch.shape[0],) + (1,) * (branch.dim() - 1)
        keep = torch.rand(shape, generator=self.generator) < self.survival
        return branch * keep.to(branch.device, branch.dtype) / self.survival

    def extra_repr(self) -> str:
        return f"survival={self.survival}"


def set_stochastic_depth(network: nn.Module, final_survival: float, generator: torch.Generator | None = None) -> int:
    """Give the residual blocks of ``network`` Huang et al.'s linearly decaying survival: block l of L
    (input to output) keeps its branch with p_l = 1 - l / L · (1 - ``final_survival``).

    Noisy Student (Xie et al., 2020) uses ``final_survival`` = 0.8. Returns L; a network without
    :class:`DropPath` blocks (``cnn-small``, ``cnn-dw``) is a ``ValueError``.
    """
    if not 0.0 < final_survival <= 1.0:
        raise ValueError(f"final_survival must be in (0, 1], got {final_survival}")
    blocks = [module for module in network.modules() if isinstance(module, DropPath)]
    if not blocks:
        raise ValueError("stochastic depth needs a residual backbone (wrn-28-2, resnet18)")
    for depth, block in enumerate(blocks, start=1):
        block.survival = 1.0 - depth / len(blocks) * (1.0 - final_survival)
        block.generator = generator
    return len(blocks)


class _WideBlock(nn.Module):
    """Pre-activation residual block of a Wide ResNet (Zagoruyko & Komodakis, 2016), with an inert
    :class:`DropPath` on its residual branch."""

    def __init__(self, cin: int, cout: int, stride: int, activate_before_residual: bool) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.shortcut = None if cin == cout else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)
        self.activate_before_residual = activate_before_residual
        self.drop_path = DropPath()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act(self.bn1(x))
        residual = pre if (self.shortcut is not None or self.activate_before_residual) else x
        out = self.drop_path(self.conv2(self.act(self.bn2(self.conv1(pre)))))
        return out + (residual if self.shortcut is None else self.shortcut(pre))


@register_backbone("wrn-28-2")
def wrn_28_2(spec: BackboneSpec) -> Body:
    """WRN-28-2 (1.5M parameters), the standard backbone of the FixMatch/SimMatch CIFAR tables."""
    depth, widen = 28, 2
    per_group = (depth - 4) // 6
    widths = (16, 16 * widen, 32 * widen, 64 * widen)
    layers: list[nn.Module] = [nn.Conv2d(spec.in_channels, widths[0], 3, 1, 1, bias=False)]
    for group, stride in enumerate((1, 2, 2)):
        for block in range(per_group):
            cin = widths[group] if block == 0 else widths[group + 1]
            layers.append(
                _WideBlock(cin, widths[group + 1], stride if block == 0 else 1, group == 0 and block == 0)
            )
    layers += [
        nn.BatchNorm2d(widths[-1]),
        nn.LeakyReLU(0.1, inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    ]
    return Body(nn.Sequential(*layers), widths[-1], *_default_stats(spec.in_channels))


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@functools.cache
def _basic_block_with_drop_path() -> type[BasicBlock]:
    """torchvision's ``BasicBlock`` with an inert :class:`DropPath` on its residual branch (same
    parameters and state-dict keys; torchvision is imported only when a ResNet is built)."""
    from torchvision.models.resnet import BasicBlock

    class BasicBlockWithDropPath(BasicBlock):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.drop_path = DropPath()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(self.drop_path(out) + identity)

    return BasicBlockWithDropPath


@register_backbone("resnet18")
def resnet18(spec: BackboneSpec) -> Body:
    """torchvision ResNet-18 (He et al., 2016), optionally initialised from a local weights file.

    Images of 64 px or less get a CIFAR-style stem (3×3 stride-1 conv, no max-pool); the ImageNet
    stem's weights are then skipped when loading. Grayscale input sums the RGB kernels of ``conv1``.
    Nothing is ever downloaded. Built as torchvision's ``resnet18`` builds it (``ResNet`` with
    ``BasicBlock`` × [2, 2, 2, 2]), the blocks carrying an inert :class:`DropPath`.
    """
    from torchvision.models.resnet import ResNet

    model = ResNet(_basic_block_with_drop_path(), [2, 2, 2, 2])
    if spec.pretrained_path:
        state = torch.load(spec.pretrained_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    small = spec.image_size <= 64
    if small:
        model.conv1 = nn.Conv2d(spec.in_channels, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    elif spec.in_channels == 1:
        rgb = model.conv1.weight.detach()
        model.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        model.conv1.weight.data.copy_(rgb.sum(dim=1, keepdim=True))
    model.fc = nn.Identity()
    mean, std = _gray_or_rgb(IMAGENET_MEAN, spec.in_channels), _gray_or_rgb(IMAGENET_STD, spec.in_channels)
    return Body(model, 512, mean, std)
