"""Semi-supervised algorithms, one file each, registered by name."""

from . import fixmatch, simmatch, supervised  # noqa: F401  (registers the algorithms)
from .base import Algorithm, Batch
from .registry import create_algorithm, list_algorithms, register_algorithm

__all__ = ["Algorithm", "Batch", "create_algorithm", "list_algorithms", "register_algorithm"]
