"""Weak and strong views of uint8 NCHW batches, on the batch's device, fresh parameters per sample.

torchvision's v2 transforms draw one parameter set per call, so a batch would share one crop and one
RandAugment op. Here every random quantity is a tensor with one entry per sample, and every op runs
once per batch (or once per group of samples that drew that op):

* weak (FixMatch, Sohn et al. 2020): horizontal flip with p=0.5 (only with ``hflip=True``: a flip
  changes the class of digits and text) and a translation of up to 12.5 % with reflection, done as a
  single integer gather on the uint8 tensor (no padding copy, no float).
* strong: the weak view, then RandAugment (Cubuk et al. 2020) with two ops per sample drawn from
  FixMatch's pool with a random magnitude each, then Cutout (DeVries & Taylor 2017) with a side of up
  to half the image. Colour ops run per group of samples that drew them; the geometric ops of both
  slots (rotate, shear, translate) are composed into one affine matrix per sample and applied by one
  ``grid_sample`` after the colour ops, which changes the order of ops but not their distribution.
* SimCLR (Chen et al. 2020): random resized crop (+ flip only with ``hflip=True``) as one
  ``grid_sample``, colour jitter (RGB: brightness, contrast, saturation, hue; grayscale: brightness and
  contrast) with p=0.8, random grayscale with p=0.2 (RGB), Gaussian blur with p=0.5.

The flip coin is drawn whether or not flips are allowed, so ``hflip`` changes no other random draw.

Outputs are float32 in [0, 1]; networks normalise their input themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

WEAK_TRANSLATE = 0.125
CUTOUT_MAX = 0.5
RANDAUGMENT_OPS_PER_SAMPLE = 2
FACTOR_RANGE = (0.05, 0.95)  # Brightness, Color, Contrast, Sharpness enhance factors (FixMatch table 12)
MAX_ROTATE_DEGREES = 30.0
MAX_SHEAR = 0.3
MAX_TRANSLATE = 0.3
FILL = 0.5  # grey fill for pixels uncovered by geometric ops and Cutout


def _uniform(n: int, low: float, high: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Reflect out-of-range indices back into [0, size) (the 'reflect' padding rule)."""
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


def flip_translate(images: torch.Tensor, generator: torch.Generator, hflip: bool = False) -> torch.Tensor:
    """Per-sample horizontal flip (p=0.5, only if ``hflip``) and integer translation (≤12.5 %,
    reflected), uint8 in/out."""
    n, c, h, w = images.shape
    device = images.device
    max_dy, max_dx = int(round(h * WEAK_TRANSLATE)), int(round(w * WEAK_TRANSLATE))
    dy = torch.randint(-max_dy, max_dy + 1, (n, 1), generator=generator, device=device)
    dx = torch.randint(-max_dx, max_dx + 1, (n, 1), generator=generator, device=device)
    flip = (torch.rand(n, 1, generator=generator, device=device) < 0.5) & hflip
    cols = torch.arange(w, device=device).expand(n, w)
    cols = torch.where(flip, w - 1 - cols, cols)
    rows = _reflect(torch.arange(h, device=device) + dy, h)
    cols = _reflect(cols + dx, w)
    flat_index = (rows[:, :, None] * w + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return torch.gather(images.reshape(n, c, h * w), 2, flat_index).view(n, c, h, w)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] → float32 [0, 1]."""
    return images.float().div_(255.0)


def weak_augment(images: torch.Tensor, generator: torch.Generator, hflip: bool = False) -> torch.Tensor:
    """FixMatch's weak view of a uint8 batch, as float32 in [0, 1]."""
    return to_float(flip_translate(images, generator, hflip))


# ---- colour ops: (images [n, C, H, W] in [0, 1], magnitudes [n] in [0, 1]) -> images -------------


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def _blend(images: torch.Tensor, degenerate: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL ImageEnhance: degenerate + factor * (image - degenerate)."""
    return (degenerate + _per_sample(factor) * (images - degenerate)).clamp_(0.0, 1.0)


def _factor(magnitude: torch.Tensor) -> torch.Tensor:
    low, high = FACTOR_RANGE
    return low + (high - low) * magnitude


def _grayscale(images: torch.Tensor) -> torch.Tensor:
    if images.shape[1] == 1:
        return images
    weights = torch.tensor([0.299, 0.587, 0.114], device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def identity(images: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    return images


def brightness(images: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    return _blend(images, torch.zeros_like(images), _factor(magnitude))


def color(images: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    return _blend(images, _grayscale(images).expand_as(images), _factor(magnitude))


def contrast(images: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    mean = _grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(images, mean.expand_as(images), _factor(magnitude))


def sharpness(images: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    channels = images.shape[1]
    kernel = torch.ones(3, 3, device=images.device)
    kernel[1, 1] = 5.0
    kernel = (kernel / 13.0).expand(channels, 1, 3, 3)
    smooth = F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), kernel, groups=channels)
    return _blend(images, smooth, _factor(magnitude))


def autocontrast(images: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    low = images.amin(dim=(2, 3), keepdim=True)
    high = images.amax(dim=(2, 3), keepdim=True)
    span = high - low
    stretched = (images - low) / span.clamp_min(1e-6)
    return torch.where(span > 0, stretched, images)


def equalize(images: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per sample and channel, via one scatter_add over the batch."""
    n, c, h, w = images.shape
    levels = (images * 255.0).round_().long().view(n * c, h * w)
    hist = torch.zeros(n * c, 256, device=images.device).scatter_add_(1, levels, torch.ones_like(levels, dtype=torch.float32))
    cdf = hist.cumsum(dim=1)
    cdf_min = torch.where(hist > 0, cdf, torch.full_like(cdf, float(h * w))).amin(dim=1, keepdim=True)
    lut = ((cdf - cdf_min) / (h * w - cdf_min).clamp_min(1.0)).clamp_(0.0, 1.0)
    return torch.gather(lut, 1, levels).view(n, c, h, w)


def posterize(images: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    shift = 4 - (magnitude * 5).floor().long().clamp(0, 4)  # keep 4..8 bits
    levels = (images * 255.0).round_().long()
    shift = _per_sample(shift)
    return ((levels >> shift) << shift).float().div_(255.0)


def solarize(images: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    return torch.where(images >= _per_sample(magnitude), 1.0 - images, images)


COLOR_OPS: tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], ...] = (
    identity, autocontrast, brightness, color, contrast, equalize, posterize, sharpness, solarize,
)


# ---- geometric ops: magnitudes [n] in [0, 1] -> 3×3 affine matrices in normalised coordinates ------


def _signed(magnitude: torch.Tensor) -> torch.Tensor:
    return 2.0 * magnitude - 1.0


def _eye(n: int, device: torch.device) -> torch.Tensor:
    return torch.eye(3, device=device).repeat(n, 1, 1)


def rotate(magnitude: torch.Tensor) -> torch.Tensor:
    angle = _signed(magnitude) * math.radians(MAX_ROTATE_DEGREES)
    matrix = _eye(magnitude.numel(), magnitude.device)
    matrix[:, 0, 0], matrix[:, 0, 1] = angle.cos(), -angle.sin()
    matrix[:, 1, 0], matrix[:, 1, 1] = angle.sin(), angle.cos()
    return matrix


def shear_x(magnitude: torch.Tensor) -> torch.Tensor:
    matrix = _eye(magnitude.numel(), magnitude.device)
    matrix[:, 0, 1] = _signed(magnitude) * MAX_SHEAR
    return matrix


def shear_y(magnitude: torch.Tensor) -> torch.Tensor:
    matrix = _eye(magnitude.numel(), magnitude.device)
    matrix[:, 1, 0] = _signed(magnitude) * MAX_SHEAR
    return matrix


def translate_x(magnitude: torch.Tensor) -> torch.Tensor:
    matrix = _eye(magnitude.numel(), magnitude.device)
    matrix[:, 0, 2] = _signed(magnitude) * MAX_TRANSLATE * 2.0  # normalised coordinates span 2
    return matrix


def translate_y(magnitude: torch.Tensor) -> torch.Tensor:
    matrix = _eye(magnitude.numel(), magnitude.device)
    matrix[:, 1, 2] = _signed(magnitude) * MAX_TRANSLATE * 2.0
    return matrix


GEOMETRIC_OPS: tuple[Callable[[torch.Tensor], torch.Tensor], ...] = (
    rotate, shear_x, shear_y, translate_x, translate_y,
)


def _warp(images: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(matrices[:, :2, :], list(images.shape), align_corners=False)
    shifted = F.grid_sample(images - FILL, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return shifted.add_(FILL)


def randaugment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Two RandAugment ops per sample, each with its own random magnitude; float in and out."""
    n = images.shape[0]
    device = images.device
    num_ops = len(COLOR_OPS) + len(GEOMETRIC_OPS)
    choices = torch.randint(0, num_ops, (n, RANDAUGMENT_OPS_PER_SAMPLE), generator=generator, device=device)
    magnitudes = torch.rand(n, RANDAUGMENT_OPS_PER_SAMPLE, generator=generator, device=device)
    out = images.clone()
    matrices = _eye(n, device)
    for slot in range(RANDAUGMENT_OPS_PER_SAMPLE):
        for op_index, op in enumerate(COLOR_OPS[1:], start=1):
            rows = torch.nonzero(choices[:, slot] == op_index).flatten()
            if rows.numel():
                out[rows] = op(out[rows], magnitudes[rows, slot])
        for op_index, geometric in enumerate(GEOMETRIC_OPS, start=len(COLOR_OPS)):
            rows = torch.nonzero(choices[:, slot] == op_index).flatten()
            if rows.numel():
                matrices[rows] = geometric(magnitudes[rows, slot]) @ matrices[rows]
    warped = torch.nonzero((choices >= len(COLOR_OPS)).any(dim=1)).flatten()
    if warped.numel():
        out[warped] = _warp(out[warped], matrices[warped])
    return out


def cutout(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Grey square per sample, side uniform in [0, 0.5] of the image, centre anywhere (in place)."""
    n, _, h, w = images.shape
    device = images.device
    half = _uniform(n, 0.0, CUTOUT_MAX, generator, device).mul_(min(h, w) / 2.0).view(n, 1, 1)
    cy = _uniform(n, 0.0, float(h), generator, device).view(n, 1, 1)
    cx = _uniform(n, 0.0, float(w), generator, device).view(n, 1, 1)
    ys = torch.arange(h, device=device).view(1, h, 1) + 0.5
    xs = torch.arange(w, device=device).view(1, 1, w) + 0.5
    inside = ((ys - cy).abs() < half) & ((xs - cx).abs() < half)
    return images.masked_fill_(inside.unsqueeze(1), FILL)


def strong_augment(images: torch.Tensor, generator: torch.Generator, hflip: bool = False) -> torch.Tensor:
    """FixMatch's strong view (weak + RandAugment + Cutout) of a uint8 batch, float32 in [0, 1]."""
    return cutout(randaugment(weak_augment(images, generator, hflip), generator), generator)


# ---- SimCLR's view ---------------------------------------------------------------------------------

CROP_SCALE = (0.2, 1.0)  # area fraction; SimCLR's ImageNet 0.08 loses whole objects in 28-32 px images
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
JITTER_PROBABILITY = 0.8
JITTER_STRENGTH = 0.4  # brightness, contrast, saturation factors in [1 - 0.4, 1 + 0.4] (SimCLR's s = 0.5)
HUE_STRENGTH = 0.1  # hue rotation in [-0.1, 0.1] of a full turn
GRAYSCALE_PROBABILITY = 0.2
BLUR_PROBABILITY = 0.5
BLUR_SIGMA = (0.1, 2.0)  # in pixels at 224 px (SimCLR), scaled with the image size
BLUR_KERNEL_FRACTION = 0.1  # kernel side ~10 % of the image side, odd, at least 3


def resized_crop(images: torch.Tensor, generator: torch.Generator, hflip: bool = False) -> torch.Tensor:
    """Per-sample random resized crop (area in ``CROP_SCALE``, log-uniform aspect ratio) back to full
    size, flipped with p=0.5 if ``hflip``; one bilinear ``grid_sample``; float in and out."""
    n = images.shape[0]
    device = images.device
    area = _uniform(n, *CROP_SCALE, generator, device)
    log_ratio = _uniform(n, math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]), generator, device)
    width = (area * log_ratio.exp()).sqrt().clamp_(max=1.0)
    height = (area / log_ratio.exp()).sqrt().clamp_(max=1.0)
    cx = (2.0 * torch.rand(n, generator=generator, device=device) - 1.0) * (1.0 - width)
    cy = (2.0 * torch.rand(n, generator=generator, device=device) - 1.0) * (1.0 - height)
    flip = (torch.rand(n, generator=generator, device=device) < 0.5) & hflip
    matrices = torch.zeros(n, 2, 3, device=device)
    matrices[:, 0, 0] = torch.where(flip, -width, width)
    matrices[:, 0, 2], matrices[:, 1, 1], matrices[:, 1, 2] = cx, height, cy
    grid = F.affine_grid(matrices, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _hue_rotate(images: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma plane of YIQ by ``turns`` of a full circle per sample (a linear hue shift)."""
    rgb_to_yiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=images.device
    )
    angle = turns * 2.0 * math.pi
    rotation = torch.zeros(turns.numel(), 3, 3, device=images.device)
    rotation[:, 0, 0] = 1.0
    rotation[:, 1, 1], rotation[:, 1, 2] = angle.cos(), -angle.sin()
    rotation[:, 2, 1], rotation[:, 2, 2] = angle.sin(), angle.cos()
    matrix = torch.linalg.inv(rgb_to_yiq) @ rotation @ rgb_to_yiq
    return torch.einsum("nij,njhw->nihw", matrix, images).clamp_(0.0, 1.0)


def colour_jitter(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """SimCLR's colour distortion with per-sample factors: jitter with p=0.8 (brightness, contrast and,
    for RGB, saturation and hue, in a fixed order where torchvision shuffles it), then for RGB random
    grayscale with p=0.2. Grayscale images get brightness and contrast only. Float in and out."""
    n, channels = images.shape[:2]
    device = images.device
    jitter = torch.rand(n, generator=generator, device=device) < JITTER_PROBABILITY

    def factor() -> torch.Tensor:
        drawn = _uniform(n, 1.0 - JITTER_STRENGTH, 1.0 + JITTER_STRENGTH, generator, device)
        return torch.where(jitter, drawn, torch.ones_like(drawn))

    out = _blend(images, torch.zeros_like(images), factor())
    out = _blend(out, _grayscale(out).mean(dim=(1, 2, 3), keepdim=True).expand_as(out), factor())
    if channels == 3:
        out = _blend(out, _grayscale(out).expand_as(out), factor())
        turns = _uniform(n, -HUE_STRENGTH, HUE_STRENGTH, generator, device) * jitter
        out = _hue_rotate(out, turns)
        gray = torch.rand(n, generator=generator, device=device) < GRAYSCALE_PROBABILITY
        out = torch.where(_per_sample(gray), _grayscale(out).expand_as(out), out)
    return out


def gaussian_blur(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Separable Gaussian blur with p=0.5 and a per-sample sigma (SimCLR's range scaled from 224 px to
    the image size), as two grouped convolutions over the whole batch; float in and out."""
    n, c, h, w = images.shape
    device = images.device
    scale = min(h, w) / 224.0
    sigma = _uniform(n, BLUR_SIGMA[0] * scale, BLUR_SIGMA[1] * scale, generator, device).clamp_min(0.05)
    blur = torch.rand(n, generator=generator, device=device) < BLUR_PROBABILITY
    radius = max(1, int(min(h, w) * BLUR_KERNEL_FRACTION) // 2)
    offsets = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma[:, None]) ** 2)
    identity_kernel = (offsets == 0).float().expand_as(kernel)
    kernel = torch.where(blur[:, None], kernel / kernel.sum(dim=1, keepdim=True), identity_kernel)
    kernel = kernel.repeat_interleave(c, dim=0)  # one kernel per (sample, channel)
    flat = images.reshape(1, n * c, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel.view(n * c, 1, 1, -1), groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel.view(n * c, 1, -1, 1), groups=n * c)
    return flat.view(n, c, h, w).clamp_(0.0, 1.0)


def simclr_augment(images: torch.Tensor, generator: torch.Generator, hflip: bool = False) -> torch.Tensor:
    """One SimCLR view of a uint8 batch (crop, flip if allowed, colour, blur), float32 in [0, 1]."""
    return gaussian_blur(colour_jitter(resized_crop(to_float(images), generator, hflip), generator), generator)
