"""The training tests' fixtures: they live in :mod:`tests.helpers.training`, shared with the tests that train."""

from tests.helpers.training import (  # noqa: F401  (fixtures; the last two are autouse)
    clean_training_state,
    labeled_project,
    one_torch_thread,
    small_project,
)
