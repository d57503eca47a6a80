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
