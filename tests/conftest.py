"""Shared fixtures: the local MNIST mirror and small seeded graphs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _mirror() -> Path | None:
    root = os.environ.get("STRUCTROB_DATA")
    if root and all((Path(root) / name).is_file() for name in MNIST_FILES):
        return Path(root)
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Directory holding the four MNIST .gz files (``STRUCTROB_DATA``).

    Skipped with a visible reason on a developer machine without a mirror; in CI
    (``CI=true``) a missing mirror is an error, never a silent skip.
    """
    root = _mirror()
    if root is None:
        message = (
            "MNIST mirror not found: set STRUCTROB_DATA to a folder with the four IDX .gz files"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    """The MNIST data set loaded once per test session."""
    from structrob.data import load

    return load("mnist", root=mnist_dir, download=False)


#: A study small enough to run in seconds: 3 graph priors (the fewest that correlate) and a
#: pruning chain of 2 steps, few images per attack, a short bootstrap.
PUBLISHED_TOML = """
name = "tiny_published"
seed = 3
[graphs]
count = 3
min_parameters = 0
max_parameters = 1000000
[graphs.grid]
# three axes of two values: the order the draws take them in matters (grid_axes)
size = [30, 40]
nei = [2, 3]
p = [0.5, 0.9]
[train]
inits = ["he_uniform", "normal"]
epochs = 1
train_images = 600
[attacks.fgsm]
images = 100
[attacks.min_fgsm]
images = 100
max_eps = 0.3
[attacks.onepixel]
pop_size = 8
max_iter = 2
images = 3
[attacks.pgd]
enabled = true
steps = 2
images = 50
[pruning]
enabled = true
widths = [8, 6, 4]
steps = 1
retrain_epochs = 1
[analysis]
n_boot = 20
"""


@pytest.fixture(scope="session")
def published_study(tmp_path_factory, mnist_dir):
    """A tiny study run twice through the real CLI, then exported with its report.

    The second ``structrob run`` resumes it after one finished unit's weights were deleted,
    so the store holds two driver sessions, the second of which ran one unit. Returns a dict:
    ``config`` (the TOML file), ``study`` (the study directory), ``results`` (the folder that
    ``structrob export STUDY --out RESULTS --report`` wrote).
    """
    from structrob.cli import main

    root = tmp_path_factory.mktemp("published")
    config, study, results = root / "tiny.toml", root / "study", root / "results"
    config.write_text(PUBLISHED_TOML)
    argv = ["run", "--config", str(config), "--out", str(study), "--workers", "1"]
    argv += ["--quiet", "--no-report", "--data-dir", str(mnist_dir)]
    assert main(argv) == 0
    # a prior unit's weights gone: the next run is a resumption that computes it again
    from structrob.study.store import Store

    with Store(study, readonly=True) as store:
        runs = store.runs_frame()
    (study / runs.loc[runs["arm"] == "prior", "weights_path"].iloc[0]).unlink()
    assert main(argv) == 0
    assert main(["export", str(study), "--out", str(results), "--report"]) == 0
    return {"config": config, "study": study, "results": results}
