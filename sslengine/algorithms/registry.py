"""Algorithms registered by name: ``@register_algorithm("fixmatch")`` on the class.

A registered class carries its own options (``Algorithm.options_type``, a frozen
:class:`~.base.AlgorithmOptions` subclass declared in the algorithm's file), so adding an
algorithm is one new file: nothing in the config or the trainer names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import TrainConfig
from ..registry import Registry
from .base import Algorithm, AlgorithmOptions

ALGORITHMS: Registry[type[Algorithm]] = Registry("algorithm")
register_algorithm = ALGORITHMS.register


def list_algorithms() -> list[str]:
    """Names accepted by ``TrainConfig.algorithm``."""
    return ALGORITHMS.names()


def algorithm_options(name: str, values: Mapping[str, Any] | None = None) -> AlgorithmOptions:
    """The options of algorithm ``name``: its defaults with ``values`` (field → value) applied, validated."""
    return ALGORITHMS.get(name).options_type.from_dict(dict(values or {}))


def create_algorithm(config: TrainConfig) -> Algorithm:
    """Instantiate the algorithm named by ``config.algorithm``."""
    return ALGORITHMS.get(config.algorithm)(config)
