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
from .base import Algorithm, Batch
from .registry import create_algorithm, list_algorithms, register_algorithm

__all__ = ["Algorithm", "Batch", "create_algorithm", "list_algorithms", "register_algorithm"]
