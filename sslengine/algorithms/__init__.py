"""Semi-supervised algorithms, one file each, registered by name.

Every module of this package is imported here, so a new algorithm is one new file: its
``@register_algorithm`` class (with its own ``options_type``) is registered on import, and nothing
else names it. An algorithm kept outside the package registers the same way once its module is
imported (the toy algorithm of ``tests/helpers/toy_algorithm.py`` shows how).
"""

import importlib
import pkgutil

from .base import Algorithm, AlgorithmOptions, Batch
from .registry import ALGORITHMS, algorithm_options, create_algorithm, list_algorithms, register_algorithm

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "AlgorithmOptions",
    "Batch",
    "algorithm_options",
    "create_algorithm",
    "list_algorithms",
    "register_algorithm",
]
