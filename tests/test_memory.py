"""nas/memory.py: a network's parameters counted on the meta device, and the refusal of one that
cannot fit, before anything is allocated."""

import pytest
import torch
from torch import nn

from nas.memory import available_bytes, check_fits, parameter_bytes


def test_parameters_and_buffers_are_counted_without_being_allocated():
    assert parameter_bytes(lambda: nn.Linear(10, 10)) == (100 + 10) * 4
    assert parameter_bytes(lambda: nn.BatchNorm2d(8)) == (8 + 8 + 8 + 8) * 4 + 8   # + num_batches_tracked
    # 10^12 weights (4 TB) are counted in no time and no memory
    assert parameter_bytes(lambda: nn.Linear(1_000_000, 1_000_000, bias=False)) == 4 * 10**12
    assert parameter_bytes(lambda: None) is None


def test_a_module_that_reads_its_values_while_built_is_not_counted():
    def reads() -> nn.Module:
        n = int(torch.ones(1).item()) * 1_000_000    # .item() has no meta value
        return nn.Linear(n, n, bias=False)           # 4 TB, were it counted
    assert parameter_bytes(reads) is None
    check_fits(reads, "it")                          # not counted: not refused (nor allocated)


def test_a_network_too_large_for_the_machine_is_refused_in_one_sentence():
    have, name = available_bytes("cpu")
    assert have > 2**30 and name == "this machine's memory"
    check_fits(lambda: nn.Linear(100, 100), "a small net")
    huge = lambda: nn.Linear(1_000_000, 1_000_000, bias=False)   # noqa: E731
    with pytest.raises(ValueError) as e:
        check_fits(huge, "the net", copies=1)
    assert str(e.value).startswith("the net would need 4,000.0 GB for its weights alone, more than the")
    with pytest.raises(ValueError, match="16,000.0 GB for its weights, their gradients and optimiser "
                                         "state alone"):
        check_fits(huge, "the net")
