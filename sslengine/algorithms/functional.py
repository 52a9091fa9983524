"""Pure numerics shared by the algorithms, each small enough to test against a hand-worked example.

Nothing here keeps state: per-image tables and running means live in the algorithms, which pass
them in. References are in each function's docstring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


def labeled_loss_and_view_logits(
    model: Callable[[torch.Tensor], torch.Tensor], labeled: torch.Tensor, labels: torch.Tensor, *views: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One forward over the labeled batch and equally sized unlabeled views (BatchNorm sees them
    together, as in FixMatch): the labeled cross-entropy and each view's float32 logits."""
    logits = model(torch.cat([labeled, *views])).float()
    num_labeled = labeled.shape[0]
    return F.cross_entropy(logits[:num_labeled], labels), list(logits[num_labeled:].chunk(len(views)))


def sharpen(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """MixMatch's Sharpen(p, T)_i = p_i^(1/T) / Σ_j p_j^(1/T) (Berthelot et al. 2019, eq. 7)."""
    powered = probs.clamp_min(1e-12).log().div(temperature)
    return powered.softmax(dim=1)


def mixup_lambda(alpha: float, sample: Callable[[float, float], float]) -> float:
    """λ' = max(λ, 1 − λ) with λ ~ Beta(α, α): the mixed sample stays closer to its first input."""
    lam = float(sample(alpha, alpha))
    return max(lam, 1.0 - lam)


def mixup(
    inputs: torch.Tensor, targets: torch.Tensor, lam: float, permutation: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """x' = λ' x + (1 − λ') x[perm], p' = λ' p + (1 − λ') p[perm] (Zhang et al. 2018 with λ')."""
    mixed_inputs = lam * inputs + (1.0 - lam) * inputs[permutation]
    mixed_targets = lam * targets + (1.0 - lam) * targets[permutation]
    return mixed_inputs, mixed_targets


def distribution_alignment(
    probs: torch.Tensor, model_marginal: torch.Tensor, target_marginal: torch.Tensor | None = None
) -> torch.Tensor:
    """ReMixMatch's alignment p̃ = Normalize(p · p(y) / p̄(y)) (Berthelot et al. 2020, sec. 3.2).

    ``model_marginal`` p̄(y) is the running mean of the model's predictions on unlabeled data,
    ``target_marginal`` p(y) the labeled class distribution (uniform when ``None``).
    """
    aligned = probs / model_marginal.clamp_min(1e-12)
    if target_marginal is not None:
        aligned = aligned * target_marginal
    return aligned / aligned.sum(dim=1, keepdim=True).clamp_min(1e-12)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over samples of H(targets, softmax(logits)) for target distributions [N, K]."""
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def softmax_mse(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample ||softmax(logits) − targets||² / K (MixMatch's L2 loss scaled by the class count)."""
    return (logits.softmax(dim=1) - targets).pow(2).mean(dim=1)


def sigmoid_rampup(step: int, length: int) -> float:
    """exp(−5 (1 − t)²) with t = step / length clipped to [0, 1] (Laine & Aila 2017); 1 if length 0."""
    if length == 0:
        return 1.0
    t = min(max(step, 0), length) / length
    return math.exp(-5.0 * (1.0 - t) ** 2)


def linear_rampup(step: int, length: int) -> float:
    """min(step / length, 1) (MixMatch's λu ramp-up, Pseudo-Label's annealed weight); 1 if length 0."""
    if length == 0:
        return 1.0
    return min(max(step, 0) / length, 1.0)


TSA_SCHEDULES = ("exp", "linear", "log", "none")


def tsa_threshold(schedule: str, step: int, horizon: int, num_classes: int) -> float:
    """UDA's training-signal-annealing threshold η_t = α_t (1 − 1/K) + 1/K (Xie et al. 2020, sec. 3.2).

    With t = step / horizon clipped to [0, 1]: log α_t = 1 − exp(−5t), linear α_t = t,
    exp α_t = exp(5 (t − 1)); "none" gives η = 1 (no labeled example is ever held back).
    """
    if schedule not in TSA_SCHEDULES:
        raise ValueError(f"unknown TSA schedule {schedule!r}; known: {TSA_SCHEDULES}")
    if schedule == "none":
        return 1.0
    t = min(max(step, 0), horizon) / max(horizon, 1)
    alpha = {"log": 1.0 - math.exp(-5.0 * t), "linear": t, "exp": math.exp(5.0 * (t - 1.0))}[schedule]
    return alpha * (1.0 - 1.0 / num_classes) + 1.0 / num_classes


def kl_from_logits(target_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean over samples of KL(softmax(target_logits) || softmax(logits))."""
    target_log_probs = F.log_softmax(target_logits, dim=1)
    return (target_log_probs.exp() * (target_log_probs - F.log_softmax(logits, dim=1))).sum(dim=1).mean()


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Mean prediction entropy (entropy minimisation, Grandvalet & Bengio 2005)."""
    log_probs = F.log_softmax(logits, dim=1)
    return -(log_probs.exp() * log_probs).sum(dim=1).mean()


def _unit_per_sample(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    return (flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)).view_as(x)


def vat_perturbation(
    forward: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    clean_logits: torch.Tensor,
    xi: float,
    eps: float,
    iterations: int = 1,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """VAT's r_adv = ε · g/||g|| by power iteration (Miyato et al. 2018, eq. 11-13).

    From a random unit direction d (or ``start``), repeat ``iterations`` times:
    d ← ∇_r KL(p(x) || p(x + r)) at r = ξ d, normalised per sample. The KL's Hessian at r = 0 is the
    Fisher matrix H, and the gradient at ξ d is ≈ ξ H d, so d converges to H's top eigenvector.
    """
    direction = torch.randn_like(inputs) if start is None else start.clone()
    target = clean_logits.detach().float()
    for _ in range(iterations):
        probe = (xi * _unit_per_sample(direction)).requires_grad_(True)
        # full precision: a ξ = 1e-6 step vanishes in bf16 and the gradient would be zero
        with torch.autocast(device_type=inputs.device.type, enabled=False):
            divergence = kl_from_logits(target, forward(inputs + probe).float())
        (direction,) = torch.autograd.grad(divergence, probe)
    return eps * _unit_per_sample(direction.detach())


@contextmanager
def frozen_batchnorm_stats(model: nn.Module) -> Iterator[None]:
    """Forward passes inside leave BatchNorm running statistics untouched (VAT's extra passes)."""
    saved = [(module, module.momentum) for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    for module, _ in saved:
        module.momentum = 0.0
    try:
        yield
    finally:
        for module, momentum in saved:
            module.momentum = momentum


@contextmanager
def train_mode_without_stat_updates(model: nn.Module) -> Iterator[None]:
    """Forward passes inside use batch statistics (train mode) but leave running statistics and the
    module's mode as they were (Mean Teacher's teacher, which is otherwise the eval-mode EMA)."""
    was_training = model.training
    model.train()
    try:
        with frozen_batchnorm_stats(model):
            yield
    finally:
        model.train(was_training)


def temporal_ensemble_update(
    ensemble: torch.Tensor, counts: torch.Tensor, index: torch.Tensor, probs: torch.Tensor, alpha: float
) -> None:
    """Z_i ← α Z_i + (1 − α) z_i and t_i ← t_i + 1 for the rows ``index`` (in place).

    A row drawn twice in one batch is updated once (its last prediction), like an epoch's single pass.
    """
    unique, last = _last_occurrence(index)
    ensemble[unique] = alpha * ensemble[unique] + (1.0 - alpha) * probs[last]
    counts[unique] += 1


def _last_occurrence(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    positions = torch.arange(index.numel(), device=index.device)
    last = torch.full((int(index.max()) + 1,), -1, dtype=torch.int64, device=index.device)
    last.scatter_reduce_(0, index, positions, reduce="amax")
    unique = torch.nonzero(last >= 0).flatten()
    return unique, last[unique]


def temporal_ensemble_target(
    ensemble: torch.Tensor, counts: torch.Tensor, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bias-corrected targets ẑ = Z / (1 − α^t) (Laine & Aila 2017, alg. 2) and which rows have one.

    Z starts at zero, so after t updates it sums weights (1 − α) α^k that total 1 − α^t; dividing
    by that makes a constant prediction its own target from the first update on.
    """
    has_target = counts > 0
    correction = 1.0 - alpha ** counts.clamp_min(1).to(ensemble.dtype)
    return ensemble / correction.unsqueeze(1), has_target


def align_rows(table: torch.Tensor, table_ids: torch.Tensor, ids: torch.Tensor, fill: float | int) -> torch.Tensor:
    """Per-image state keyed by image id, laid out in the order of ``ids``.

    Row i of ``table`` belongs to image ``table_ids[i]``; row j of the result to ``ids[j]``: an id in
    both keeps its row, a new id gets a row of ``fill``, and ids no longer present are dropped.
    Deleting, adding or re-sorting images therefore never moves one image's state onto another.
    Ids are unique in each argument. Example: table [7, 8, 9] for ids [10, 20, 30] aligned to ids
    [30, 40, 10] with fill −1 gives [9, −1, 7].
    """
    if table_ids.shape == ids.shape and torch.equal(table_ids, ids):
        return table
    aligned = torch.full((ids.shape[0], *table.shape[1:]), fill, dtype=table.dtype, device=table.device)
    if table_ids.numel() == 0 or ids.numel() == 0:
        return aligned
    table_ids = table_ids.to(ids.device)
    order = torch.argsort(table_ids)
    sorted_ids = table_ids[order]
    position = torch.searchsorted(sorted_ids, ids).clamp_max(sorted_ids.numel() - 1)
    found = sorted_ids[position] == ids
    aligned[found] = table[order[position[found]].to(table.device)]
    return aligned


def flexmatch_thresholds(selected_label: torch.Tensor, num_classes: int, tau: float, warmup: bool = True) -> torch.Tensor:
    """FlexMatch's class-wise thresholds T_t(c) = M(β_t(c)) · τ, M(x) = x / (2 − x) (Zhang et al. 2021).

    ``selected_label`` holds per unlabeled image the class it was last predicted with confidence
    above τ, or −1. σ(c) counts images per class; β(c) = σ(c) / max_c σ(c), and with the threshold
    warm-up the unused images count as one more class: β(c) = σ(c) / max(max_c σ(c), N − Σσ).
    """
    used = selected_label >= 0
    sigma = torch.bincount(selected_label[used], minlength=num_classes).to(torch.float32)
    denominator = sigma.max()
    if warmup:
        denominator = torch.maximum(denominator, (~used).sum().to(torch.float32))
    beta = sigma / denominator.clamp_min(1.0)
    return tau * beta / (2.0 - beta)


def freematch_update(
    global_threshold: torch.Tensor,
    class_means: torch.Tensor,
    label_hist: torch.Tensor,
    probs: torch.Tensor,
    momentum: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """FreeMatch's EMAs (Wang et al. 2023, eq. 5-7): τ ← λτ + (1−λ) mean max p,
    p̃(c) ← λ p̃(c) + (1−λ) mean p(c), and the histogram of predicted classes."""
    confidence, predicted = probs.max(dim=1)
    hist = torch.bincount(predicted, minlength=probs.shape[1]).to(probs.dtype)
    return (
        momentum * global_threshold + (1.0 - momentum) * confidence.mean(),
        momentum * class_means + (1.0 - momentum) * probs.mean(dim=0),
        momentum * label_hist + (1.0 - momentum) * hist / hist.sum(),
    )


def freematch_thresholds(global_threshold: torch.Tensor, class_means: torch.Tensor) -> torch.Tensor:
    """Self-adaptive class thresholds τ_t(c) = MaxNorm(p̃_t)(c) · τ_t (Wang et al. 2023, eq. 8)."""
    return global_threshold * class_means / class_means.max()


def freematch_fairness_loss(
    logits_strong: torch.Tensor, mask: torch.Tensor, class_means: torch.Tensor, label_hist: torch.Tensor
) -> torch.Tensor:
    """FreeMatch's self-adaptive fairness L_f = −H(SumNorm(p̃ / h̃), SumNorm(p̄_s / h̄_s)) over the
    masked strong predictions (Wang et al. 2023, eq. 11), as in the authors' USB code."""
    selected = logits_strong[mask.bool()]
    if selected.shape[0] == 0:
        return logits_strong.sum() * 0.0
    probs = selected.float().softmax(dim=1)
    hist = torch.bincount(probs.argmax(dim=1), minlength=probs.shape[1]).to(probs.dtype)
    hist = hist / hist.sum()
    reference = class_means * torch.nan_to_num(1.0 / label_hist, posinf=0.0)
    reference = reference / reference.sum()
    batch_mean = probs.mean(dim=0) * torch.nan_to_num(1.0 / hist, posinf=0.0).detach()
    batch_mean = batch_mean / batch_mean.sum()
    return (reference * torch.log(batch_mean + 1e-12)).sum()


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent (Chen et al. 2020): each of 2N L2-normalised embeddings must pick its pair
    among the other 2N − 1 by softmax of cosine similarity / temperature."""
    z = torch.cat([z1, z2]).float()
    n = z1.shape[0]
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(similarity, positives)
