"""Shared fixtures: small slices of the digits data that ships with scikit-learn."""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import tempfile

import numpy as np
import pytest
import torch

from nas.data import ImageData, load_dataset


def pytest_configure(config):
    """Under mutation testing (mutation/run.py): one torch thread (mutants run side by side), and
    the mutant under test kept in this process only, so that the command lines the tests start
    run unmutated rather than fail to find mutmut's configuration from another folder."""
    mutant = os.environ.get("MUTANT_UNDER_TEST")
    if mutant:
        from mutmut.mutation.trampoline import set_mutant_under_test

        torch.set_num_threads(1)
        set_mutant_under_test(mutant)
        os.environ.pop("MUTANT_UNDER_TEST")


@pytest.hookimpl(optionalhook=True)   # (pytest without pytest-xdist knows no such hook)
def pytest_xdist_auto_num_workers(config):
    """`-n auto` (optional, not the README's test command: docs/testing.md): a worker per CPU core
    this process may use, at most 4. Each worker imports PyTorch and starts its own Ray in the grid
    tests, so more would cost memory for little time. PYTEST_XDIST_AUTO_NUM_WORKERS, where set, is
    left to pytest-xdist."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, cores or 1))


@pytest.fixture
def ray_tmp(tmp_path, monkeypatch):
    """A private Ray for a test that runs a grid: no stale cluster address, its temp files in a
    short folder of /tmp (Ray's socket paths must stay under 108 bytes), removed after."""
    short = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", short)
    yield tmp_path
    shutil.rmtree(short, ignore_errors=True)


@pytest.fixture(scope="session")
def digits() -> ImageData:
    return load_dataset("digits")


@pytest.fixture(scope="session")
def tiny_digits(digits: ImageData) -> ImageData:
    """256 training and 128 test images: two search steps per epoch at batch 64."""
    return dataclasses.replace(digits, train_x=digits.train_x[:256], train_y=digits.train_y[:256],
                               test_x=digits.test_x[:128], test_y=digits.test_y[:128])


@pytest.fixture(autouse=True)
def _isolated_data_root(tmp_path, monkeypatch):
    """Never touch the user's data cache: HYPERDARTS_DATA points into the test's temp dir."""
    monkeypatch.setenv("HYPERDARTS_DATA", str(tmp_path / "data"))
    torch.manual_seed(0)


@pytest.fixture
def through_a_file():
    """What a checkpoint becomes on disk: torch.save, then torch.load (as the search's, the
    evaluation's and the grid's trials store it)."""
    import io

    def roundtrip(state):
        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        return torch.load(buf, weights_only=False)

    return roundtrip


@pytest.fixture
def fake_cifar100(tmp_path, monkeypatch):
    """A folder holding CIFAR-100 in torchvision's format (cifar-100-python/: 20 training and 10
    test images of 100 classes, random pixels); torchvision's md5 checks, which fake files fail,
    are skipped in this process."""
    import torchvision.datasets.cifar as tv_cifar

    root = tmp_path / "cifar100-root"
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("test", 10)):
        data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
        with open(d / split, "wb") as f:
            pickle.dump({"data": data, "fine_labels": list(rng.integers(0, 100, n)),
                         "coarse_labels": [0] * n}, f)
    with open(d / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)]}, f)
    monkeypatch.setattr(tv_cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    return root
