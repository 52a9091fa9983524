"""Stochastic depth (Huang et al. 2016) on the residual backbones: DropPath and its linear decay rule."""

from __future__ import annotations

import copy

import pytest
import torch

from sslengine.backbones import BackboneSpec, DropPath, build_network, set_stochastic_depth
from sslengine.inference import recalibrate_batchnorm

SPEC = BackboneSpec(in_channels=1, image_size=8)


def drop_paths(network: torch.nn.Module) -> list[DropPath]:
    return [module for module in network.modules() if isinstance(module, DropPath)]


def test_drop_path_is_the_identity_in_eval_mode_and_at_survival_one():
    branch = torch.randn(64, 4, 3, 3)
    path = DropPath()
    assert torch.equal(path(branch), branch)  # survival 1 (the default), training mode
    path.survival = 0.5
    path.eval()
    assert torch.equal(path(branch), branch)


def test_drop_path_drops_whole_samples_in_training_and_keeps_the_branch_in_expectation():
    path = DropPath()
    path.survival = 0.8
    path.generator = torch.Generator().manual_seed(0)
    out = path(torch.ones(20_000, 2, 3, 3))
    per_sample = out.flatten(1)
    kept = per_sample[:, 0] > 0
    assert torch.equal(per_sample, kept.float()[:, None].expand_as(per_sample) / 0.8)  # all of a sample, or none
    assert kept.float().mean().item() == pytest.approx(0.8, abs=0.01)
    assert out.mean().item() == pytest.approx(1.0, abs=0.015)


def test_drop_path_draws_are_reproducible_from_its_generator():
    def draw() -> torch.Tensor:
        path = DropPath()
        path.survival = 0.5
        path.generator = torch.Generator().manual_seed(3)
        return path(torch.ones(32, 1, 2, 2))

    assert torch.equal(draw(), draw())


@pytest.mark.parametrize(("backbone", "blocks"), [("wrn-28-2", 12), ("resnet18", 8)])
def test_survival_decays_linearly_to_the_final_blocks_value(backbone: str, blocks: int):
    network = build_network(backbone, SPEC, 3)
    assert all(path.survival == 1.0 for path in drop_paths(network))  # inert as built
    assert set_stochastic_depth(network, 0.8) == blocks
    survivals = [path.survival for path in drop_paths(network)]
    assert survivals == pytest.approx([1.0 - depth / blocks * 0.2 for depth in range(1, blocks + 1)])
    assert survivals[-1] == pytest.approx(0.8)


def plain_block(network: torch.nn.Module) -> torch.nn.Module:
    """The first residual block whose identity path is its input (no projection shortcut, no
    pre-activated residual)."""
    for module in network.modules():
        if hasattr(module, "shortcut") and module.shortcut is None and not module.activate_before_residual:
            return module
        if hasattr(module, "downsample") and module.downsample is None:
            return module
    raise AssertionError("no plain residual block")


@pytest.mark.parametrize("backbone", ["wrn-28-2", "resnet18"])
def test_a_dropped_residual_branch_leaves_only_the_blocks_identity_path(backbone: str):
    network = build_network(backbone, SPEC, 3)
    set_stochastic_depth(network, 1e-6, torch.Generator().manual_seed(0))
    block = plain_block(network)
    block.drop_path.survival = 1e-6  # the branch of every sample is dropped
    inputs = torch.rand(2, block.conv1.in_channels, 4, 4)
    identity = inputs if backbone == "wrn-28-2" else torch.relu(inputs)  # ResNet's block ends in a ReLU
    with torch.no_grad():
        assert torch.equal(block.train()(inputs), identity)
        assert not torch.allclose(block.eval()(inputs), identity)  # eval: the branch is always there


def test_stochastic_depth_needs_residual_blocks_and_a_survival_in_zero_one():
    with pytest.raises(ValueError, match="needs a residual backbone"):
        set_stochastic_depth(build_network("cnn-small", SPEC, 3), 0.8)
    with pytest.raises(ValueError, match=r"final_survival must be in \(0, 1\]"):
        set_stochastic_depth(build_network("wrn-28-2", SPEC, 3), 0.0)


def test_precise_bn_estimates_the_statistics_with_every_branch_kept():
    plain = build_network("wrn-28-2", SPEC, 3).eval()
    noised = copy.deepcopy(plain)
    set_stochastic_depth(noised, 0.5, torch.Generator().manual_seed(0))
    images = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8)
    for network in (plain, noised):
        recalibrate_batchnorm(network, images, count=16)
    for name, statistic in plain.state_dict().items():
        assert torch.equal(statistic, noised.state_dict()[name]), name
    assert not noised.training
