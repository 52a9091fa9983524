"""Algorithms registered by name: ``@register_algorithm("fixmatch")`` on the class."""

from __future__ import annotations

from ..config import TrainConfig
from ..registry import Registry
from .base import Algorithm

ALGORITHMS: Registry[type[Algorithm]] = Registry("algorithm")
register_algorithm = ALGORITHMS.register


def list_algorithms() -> list[str]:
    """Names accepted by ``TrainConfig.algorithm``."""
    return ALGORITHMS.names()


def create_algorithm(config: TrainConfig) -> Algorithm:
    """Instantiate the algorithm named by ``config.algorithm``."""
    return ALGORITHMS.get(config.algorithm)(config)
