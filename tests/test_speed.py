"""nas/speed.py's allocator policy: freed memory is handed out again, not faulted in anew."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

import nas.speed
from nas.speed import Speed

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Ten rounds of four 40 MiB tensors made and freed; the minor page faults of each round.
CHURN = """
import resource, sys, torch
from nas.speed import keep_freed_memory
torch.set_num_threads(1)
if sys.argv[1] == "keep" and not keep_freed_memory():
    sys.exit(3)
faults = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    xs = [torch.ones(10 * 2**20) for _ in range(4)]
    del xs
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(" ".join(map(str, faults)))
"""


def _faults(policy: str) -> list[int]:
    run = subprocess.run([sys.executable, "-c", CHURN, policy], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode != 3, "keep_freed_memory did not apply under glibc"
    assert run.returncode == 0, run.stderr
    return [int(f) for f in run.stdout.split()]


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_keep_freed_memory_stops_the_page_faults_of_large_tensors():
    pages = 4 * 40 * 2**20 // 4096          # 40,960 pages of 4 KiB per round
    default, kept = _faults("default"), _faults("keep")
    # glibc's default maps every tensor over 32 MiB afresh: each round faults in all its pages,
    assert min(default[-3:]) > 0.9 * pages
    # with the policy the heap keeps what was freed and, once it has grown, hands it out again.
    assert max(kept[-3:]) < 0.02 * pages


def test_setup_applies_the_policy_on_the_cpu_only(monkeypatch):
    calls = []
    monkeypatch.setattr(nas.speed, "keep_freed_memory", lambda: calls.append(1) or True)
    Speed().setup("cpu")
    assert calls == [1]
    Speed().setup("cuda")     # sets cuDNN's flag only; needs no GPU
    assert calls == [1]


def test_the_environment_can_leave_glibcs_default(monkeypatch):
    monkeypatch.setenv("HYPERDARTS_KEEP_FREED_MEMORY", "0")
    assert nas.speed.keep_freed_memory() is False
