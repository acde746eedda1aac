"""nas/memory.py: a network's parameters counted on the meta device, and the refusal of one that
cannot fit, before anything is allocated."""

import pytest
import torch
from torch import nn

from nas.memory import KEPT, activation_bytes, available_bytes, check_fits, check_space_fits, parameter_bytes
from nas.spaces import get_space, space_config


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


def test_the_distinct_outputs_of_the_layers_on_one_batch_are_counted_without_being_allocated():
    def net(inplace: bool) -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=inplace), nn.Flatten(),
                             nn.Linear(8 * 4 * 4, 10))
    conv, flat, logits = 2 * 8 * 4 * 4 * 4, 2 * 8 * 4 * 4 * 4, 2 * 10 * 4
    assert activation_bytes(lambda: net(False), 2, 3, 4) == conv + conv + flat + logits
    # an in-place ReLU outputs the convolution's tensor: counted once (Flatten's view is its own)
    assert activation_bytes(lambda: net(True), 2, 3, 4) == conv + flat + logits
    # a million images of 1000² would be 32 TB: counted on the meta device in no memory
    assert activation_bytes(lambda: nn.Conv2d(3, 8, 3, padding=1), 10**6, 3, 1000) == 32 * 10**12
    assert activation_bytes(lambda: nn.Linear(5, 5), 2, 3, 4) is None    # the wrong input shape


def test_a_batch_too_large_for_the_machine_is_refused_in_one_sentence_and_a_fitting_one_is_not():
    conv = lambda: nn.Conv2d(3, 64, 3, padding=1)   # noqa: E731   (64 × 4 bytes per pixel)
    check_fits(conv, "the conv", batch=64, shape=(3, 32))
    have = available_bytes("cpu")[0]
    batch = int(2 * have / (KEPT * 64 * 4 * 32 * 32))       # outputs twice the machine's memory
    with pytest.raises(ValueError) as e:
        check_fits(conv, "the conv", batch=batch, shape=(3, 32))
    assert str(e.value).startswith(f"the conv at batch {batch:,} of 3×32×32 images would need at "
                                   "least ")
    assert str(e.value).endswith("; use a smaller batch, or fewer channels or cells")


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_each_space_s_supernet_and_trained_network_are_counted_at_a_batch(space):
    """The DARTS supernet is counted through its plain cells (the batched cell's backward functions
    do not run on the meta device); both spaces' networks refuse a batch of a million CIFAR images
    and accept the papers' batches."""
    s = get_space(space)
    config, train = space_config(space), s.TrainConfig()
    supernet = activation_bytes(lambda: s.counting_supernet(config, 3, 10, 32), 64, 3, 32)
    trained = activation_bytes(lambda: s.largest_network(train, 3, 10), 64, 3, 32)
    assert supernet > 10**9 and trained > 10**8      # (DARTS: 7.8 GB and 5.9 GB; NB201: 1.7, 0.7)
    check_space_fits(space, space_config=config, train_config=train, shape=(3, 32), search_batch=64)
    with pytest.raises(ValueError, match="supernet .* at batch 1,000,000 of 3×32×32 images"):
        check_space_fits(space, space_config=config, shape=(3, 32), search_batch=1_000_000)
