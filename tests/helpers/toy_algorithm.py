"""A toy algorithm written into a temporary module: proof that adding an algorithm is one new file.

:func:`toy_algorithm_installed` writes :data:`TOY_SOURCE` as ``<folder>/<module>.py``, imports it
from there (the folder on ``sys.path``), which registers ``toy-entropy`` with its own options, and
on exit unregisters it and forgets the module. Used by the engine test and the worker-round test.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from sslengine.algorithms import ALGORITHMS

TOY_NAME = "toy-entropy"
TOY_SOURCE = textwrap.dedent(
    '''
    """Entropy minimisation: Grandvalet & Bengio, "Semi-supervised Learning by Entropy Minimization", NIPS 2004."""

    from dataclasses import dataclass

    import torch
    import torch.nn.functional as F

    from sslengine import Algorithm, AlgorithmOptions, register_algorithm


    @dataclass(frozen=True)
    class ToyEntropyOptions(AlgorithmOptions):
        entropy_weight: float = 0.1

        def problems(self) -> list[str]:
            return [] if self.entropy_weight >= 0 else ["entropy_weight must be >= 0"]


    @register_algorithm("toy-entropy")
    class ToyEntropy(Algorithm):
        """Labeled cross-entropy plus ``entropy_weight`` times the mean prediction entropy of weak views."""

        uses_strong = False
        options_type = ToyEntropyOptions

        def train_step(self, model, batch):
            logits = model(torch.cat([batch.labeled, batch.unlabeled_weak])).float()
            num_labeled = batch.labeled.shape[0]
            loss_x = F.cross_entropy(logits[:num_labeled], batch.labels)
            probs = logits[num_labeled:].softmax(dim=1)
            entropy = -(probs * probs.clamp_min(1e-12).log()).sum(dim=1).mean()
            weight = torch.tensor(self.options.entropy_weight, device=logits.device)
            return {"loss": loss_x + weight * entropy, "loss_x": loss_x.detach(), "entropy": entropy.detach(), "weight": weight}
    '''
)


@contextmanager
def toy_algorithm_installed(folder: Path, module: str = "toy_entropy_algorithm") -> Iterator[ModuleType]:
    """Write the toy algorithm into ``folder``, import it (registering it) and clean up afterwards."""
    (folder / f"{module}.py").write_text(TOY_SOURCE)
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(module)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(module, None)
        if TOY_NAME in ALGORITHMS.names():
            ALGORITHMS.unregister(TOY_NAME)
