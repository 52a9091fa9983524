"""The algorithms' pure numerics against hand-worked examples and naive references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sslengine.algorithms.functional import (
    align_rows,
    distribution_alignment,
    flexmatch_thresholds,
    freematch_thresholds,
    freematch_update,
    frozen_batchnorm_stats,
    linear_rampup,
    mixup,
    mixup_lambda,
    nt_xent,
    sharpen,
    sigmoid_rampup,
    softmax_mse,
    temporal_ensemble_target,
    temporal_ensemble_update,
    train_mode_without_stat_updates,
    vat_perturbation,
)


def close(actual: torch.Tensor, expected: list | torch.Tensor, atol: float = 1e-6) -> bool:
    return torch.allclose(actual.double(), torch.as_tensor(expected, dtype=torch.float64), atol=atol)


# ---- sharpening, MixUp, distribution alignment, losses --------------------------------------------


def test_sharpen_raises_probabilities_to_one_over_t_and_renormalises():
    probs = torch.tensor([[0.6, 0.3, 0.1]])
    # T = 0.5: p² = [0.36, 0.09, 0.01], sum 0.46
    assert close(sharpen(probs, 0.5), [[0.36 / 0.46, 0.09 / 0.46, 0.01 / 0.46]])
    assert close(sharpen(probs, 1.0), probs)
    assert close(sharpen(probs, 0.01), [[1.0, 0.0, 0.0]])


def test_mixup_lambda_prime_keeps_the_larger_weight():
    assert mixup_lambda(0.75, lambda a, b: 0.3) == pytest.approx(0.7)
    assert mixup_lambda(0.75, lambda a, b: 0.8) == pytest.approx(0.8)


def test_mixup_blends_inputs_and_targets_with_the_shuffled_batch():
    inputs = torch.tensor([[0.0], [10.0], [20.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    mixed_inputs, mixed_targets = mixup(inputs, targets, 0.75, torch.tensor([2, 0, 1]))
    assert close(mixed_inputs, [[5.0], [7.5], [17.5]])
    assert close(mixed_targets, [[0.875, 0.125], [0.25, 0.75], [0.375, 0.625]])


def test_distribution_alignment_divides_by_model_marginal_and_multiplies_by_target():
    probs = torch.tensor([[0.5, 0.5]])
    model_marginal = torch.tensor([0.8, 0.2])
    # p / p̄ = [0.625, 2.5] → [0.2, 0.8]
    assert close(distribution_alignment(probs, model_marginal), [[0.2, 0.8]])
    # · p(y) = [0.75, 0.25]: [0.46875, 0.625] → [3/7, 4/7]
    assert close(distribution_alignment(probs, model_marginal, torch.tensor([0.75, 0.25])), [[3 / 7, 4 / 7]])


def test_softmax_mse_is_the_squared_error_divided_by_the_class_count():
    logits = torch.zeros(1, 4)  # uniform prediction
    target = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert close(softmax_mse(logits, target), [(0.75**2 + 3 * 0.25**2) / 4])


def test_rampups_start_low_and_reach_one_at_their_length():
    assert sigmoid_rampup(0, 100) == pytest.approx(math.exp(-5.0))
    assert sigmoid_rampup(50, 100) == pytest.approx(math.exp(-1.25))
    assert sigmoid_rampup(500, 100) == 1.0 and sigmoid_rampup(3, 0) == 1.0
    assert linear_rampup(25, 100) == pytest.approx(0.25) and linear_rampup(200, 100) == 1.0


# ---- VAT ------------------------------------------------------------------------------------------


def test_vat_direction_for_binary_logistic_model_is_the_weight_vector():
    # logits = [w·x, 0]: the Fisher matrix is p(1 − p) w wᵀ, so one power iteration gives ±w/|w|.
    torch.manual_seed(0)
    w = torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x @ w, torch.zeros(x.shape[0], dtype=x.dtype)], dim=1)

    x = torch.randn(4, 3, dtype=torch.float64)
    r_adv = vat_perturbation(forward, x, forward(x), xi=1e-6, eps=2.0, iterations=1)
    cosine = F.cosine_similarity(r_adv, w.expand_as(r_adv), dim=1)
    assert close(cosine.abs(), [1.0] * 4, atol=1e-6)
    assert close(r_adv.norm(dim=1), [2.0] * 4)


def test_vat_power_iteration_converges_to_the_top_eigenvector_of_the_fisher_matrix():
    torch.manual_seed(1)
    weight = torch.randn(4, 6, dtype=torch.float64)
    x = torch.randn(1, 6, dtype=torch.float64)
    probs = (x @ weight.T).softmax(dim=1)[0]
    fisher = weight.T @ (torch.diag(probs) - torch.outer(probs, probs)) @ weight
    eigenvalues, eigenvectors = torch.linalg.eigh(fisher)
    assert eigenvalues[-1] > 1.5 * eigenvalues[-2]  # a clear gap: power iteration converges
    forward = lambda inputs: inputs @ weight.T  # noqa: E731
    top = eigenvectors[:, -1]
    start = (eigenvectors[:, -2] + 0.01 * top).unsqueeze(0)  # almost the second eigenvector
    r_adv = vat_perturbation(forward, x, forward(x), xi=1e-5, eps=1.0, iterations=60, start=start)
    assert abs(float(F.cosine_similarity(r_adv[0], top, dim=0))) > 0.9999
    # one iteration from there is far off: the test tells the iterations apart
    one_step = vat_perturbation(forward, x, forward(x), xi=1e-5, eps=1.0, iterations=1, start=start)
    assert abs(float(F.cosine_similarity(one_step[0], top, dim=0))) < 0.5


def test_frozen_batchnorm_stats_leaves_running_statistics_untouched():
    bn = nn.BatchNorm1d(3)
    before = bn.running_mean.clone()
    with frozen_batchnorm_stats(bn):
        bn(torch.randn(8, 3) + 5.0)
    assert torch.equal(bn.running_mean, before) and bn.momentum == 0.1
    bn(torch.randn(8, 3) + 5.0)
    assert not torch.equal(bn.running_mean, before)


def test_train_mode_without_stat_updates_normalises_by_the_batch_and_restores_eval_mode():
    bn = nn.BatchNorm1d(1).eval()
    batch = torch.tensor([[1.0], [3.0]])
    with train_mode_without_stat_updates(bn):
        normalised = bn(batch)
    assert close(normalised, [[-1.0], [1.0]], atol=1e-4)  # batch statistics, not running ones
    assert not bn.training and torch.equal(bn.running_mean, torch.zeros(1))


# ---- Temporal Ensembling --------------------------------------------------------------------------


def test_temporal_ensemble_bias_correction_makes_a_constant_prediction_its_own_target():
    alpha = 0.6
    ensemble, counts = torch.zeros(3, 2), torch.zeros(3, dtype=torch.int64)
    p = torch.tensor([[0.2, 0.8]])
    for _ in range(3):
        temporal_ensemble_update(ensemble, counts, torch.tensor([1]), p, alpha)
        targets, has_target = temporal_ensemble_target(ensemble, counts, alpha)
        assert close(targets[1:2], p)
    assert has_target.tolist() == [False, True, False]
    assert close(ensemble[1:2], (1 - alpha**3) * p)  # uncorrected Z is biased towards 0


def test_temporal_ensemble_weights_recent_predictions_by_one_minus_alpha():
    alpha = 0.6
    ensemble, counts = torch.zeros(1, 2), torch.zeros(1, dtype=torch.int64)
    p1, p2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    temporal_ensemble_update(ensemble, counts, torch.tensor([0]), p1, alpha)
    temporal_ensemble_update(ensemble, counts, torch.tensor([0]), p2, alpha)
    # Z = 0.6·0.4·p1 + 0.4·p2 = [0.24, 0.4]; 1 − 0.6² = 0.64 → [0.375, 0.625]
    targets, _ = temporal_ensemble_target(ensemble, counts, alpha)
    assert close(targets, [[0.375, 0.625]])


def test_temporal_ensemble_counts_an_image_drawn_twice_in_a_batch_once():
    ensemble, counts = torch.zeros(2, 2), torch.zeros(2, dtype=torch.int64)
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    temporal_ensemble_update(ensemble, counts, torch.tensor([0, 0]), probs, 0.5)
    assert counts.tolist() == [1, 0]
    assert close(ensemble[0], [0.0, 0.5])  # the last of the two predictions


def test_align_rows_keeps_each_images_row_by_id_starts_new_ids_empty_and_drops_gone_ones():
    table, ids = torch.tensor([7, 8, 9]), torch.tensor([10, 20, 30])
    assert align_rows(table, ids, torch.tensor([30, 40, 10]), -1).tolist() == [9, -1, 7]
    assert align_rows(table, ids, torch.tensor([20]), -1).tolist() == [8]
    assert align_rows(table, ids, torch.tensor([1, 2]), -1).tolist() == [-1, -1]
    assert align_rows(table, ids, ids, -1) is table
    rows = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert align_rows(rows, torch.tensor([5, 6]), torch.tensor([6, 5, 7]), 0.0).tolist() == [[3.0, 4.0], [1.0, 2.0], [0.0, 0.0]]
    assert align_rows(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), ids, -1).tolist() == [-1, -1, -1]


# ---- FlexMatch / FreeMatch thresholds --------------------------------------------------------------


def test_flexmatch_thresholds_with_warmup_count_unused_images_as_a_class():
    # 10 unlabeled images: class 0 learned 3 times, class 1 once, 6 unused.
    selected = torch.tensor([0, 0, 0, 1, -1, -1, -1, -1, -1, -1])
    # β = σ / max(max σ, unused) = [3, 1, 0] / 6; M(β) = β / (2 − β) = [1/3, 1/11, 0]; · τ
    assert close(flexmatch_thresholds(selected, 3, 0.9, warmup=True), [0.3, 0.9 / 11, 0.0])
    # without warm-up: β = [1, 1/3, 0], M = [1, 0.2, 0]
    assert close(flexmatch_thresholds(selected, 3, 0.9, warmup=False), [0.9, 0.18, 0.0])


def test_flexmatch_thresholds_start_at_zero_and_reach_tau_for_a_fully_learned_class():
    assert close(flexmatch_thresholds(torch.full((5,), -1), 3, 0.95), [0.0, 0.0, 0.0])
    assert close(flexmatch_thresholds(torch.tensor([0, 0, 1, 1, 1]), 2, 0.95), [0.95 * (2 / 3) / (4 / 3), 0.95])


def test_freematch_update_is_an_ema_of_mean_confidence_class_means_and_histogram():
    k = 3
    start = torch.tensor(1 / k), torch.full((k,), 1 / k), torch.full((k,), 1 / k)
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    tau, means, hist = freematch_update(*start, probs, momentum=0.9)
    assert close(tau, 0.9 / 3 + 0.1 * 0.75)
    assert close(means, [0.34, 0.35, 0.31])
    assert close(hist, [0.9 / 3 + 0.05, 0.9 / 3 + 0.05, 0.9 / 3])


def test_freematch_thresholds_scale_the_global_threshold_by_max_normalised_class_means():
    thresholds = freematch_thresholds(torch.tensor(0.8), torch.tensor([0.5, 0.25, 0.25]))
    assert close(thresholds, [0.8, 0.4, 0.4])


# ---- SelfMatch's contrastive loss -----------------------------------------------------------------


def test_nt_xent_matches_a_naive_loop():
    torch.manual_seed(2)
    z1, z2 = F.normalize(torch.randn(3, 5), dim=1), F.normalize(torch.randn(3, 5), dim=1)
    z = torch.cat([z1, z2])
    losses = []
    for i in range(6):
        positive = (i + 3) % 6
        logits = torch.stack([z[i] @ z[j] / 0.5 for j in range(6) if j != i])
        target = positive if positive < i else positive - 1
        losses.append(-F.log_softmax(logits, dim=0)[target])
    assert close(nt_xent(z1, z2, 0.5), torch.stack(losses).mean(), atol=1e-5)
