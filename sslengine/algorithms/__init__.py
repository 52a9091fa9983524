"""Semi-supervised algorithms, one file each, registered by name."""

from . import fixmatch, simmatch, supervised  # noqa: F401  (registers the algorithms)
from . import (  # noqa: F401  (registers the algorithms)
    flexmatch,
    freematch,
    meanteacher,
    mixmatch,
    noisystudent,
    pimodel,
    pseudolabel,
    remixmatch,
    selfmatch,
    temporal_ensembling,
    uda,
    vat,
)
from .base import Algorithm, AlgorithmOptions, Batch
from .registry import ALGORITHMS, algorithm_options, create_algorithm, list_algorithms, register_algorithm

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
