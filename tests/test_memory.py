"""nas/memory.py: a network's parameters counted on the meta device, and the refusal of one that
cannot fit, before anything is allocated."""

import dataclasses

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
    conv, logits = 2 * 8 * 4 * 4 * 4, 2 * 10 * 4
    # the ReLU's output is a tensor of its own; Flatten's is a view of it, no memory of its own
    assert activation_bytes(lambda: net(False), 2, 3, 4) == conv + conv + logits
    # an in-place ReLU outputs the convolution's tensor: counted once
    assert activation_bytes(lambda: net(True), 2, 3, 4) == conv + logits
    # a million images of 1000² would be 32 TB: counted on the meta device in no memory
    assert activation_bytes(lambda: nn.Conv2d(3, 8, 3, padding=1), 10**6, 3, 1000) == 32 * 10**12
    assert activation_bytes(lambda: nn.Linear(5, 5), 2, 3, 4) is None    # the wrong input shape


def test_a_batch_is_refused_exactly_where_its_floor_passes_the_memory(monkeypatch):
    """The floor at a batch: two copies of the weights and KEPT of the layers' outputs (half of
    that under amp); accepted at exactly the memory, refused a byte below, in one sentence."""
    import nas.memory

    conv = lambda: nn.Conv2d(3, 64, 3, padding=1)   # noqa: E731
    weights = (64 * 3 * 9 + 64) * 4
    outputs = 8 * 64 * 32 * 32 * 4                  # batch 8: one output of 64 channels
    floor = 2 * weights + KEPT * outputs
    for memory, refused in ((floor, False), (floor - 1, True)):
        monkeypatch.setattr(nas.memory, "available_bytes", lambda device, m=memory: (m, "a box"))
        if refused:
            with pytest.raises(ValueError) as e:
                check_fits(conv, "the conv", batch=8, shape=(3, 32))
            assert str(e.value).startswith("the conv at batch 8 of 3×32×32 images would need at least ")
            assert str(e.value).endswith("of a box; use a smaller batch, or fewer channels or cells")
        else:
            check_fits(conv, "the conv", batch=8, shape=(3, 32))
    check_fits(conv, "the conv", batch=8, shape=(3, 32), half=True)     # (amp: half the outputs)
    check_fits(conv, "the conv", batch=10**9)                           # (no shape: weights only)


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_each_space_counts_its_supernet_and_its_smallest_and_given_networks(space, monkeypatch):
    """The DARTS supernet is counted through its plain cells (the batched cell's backward functions
    do not run on the meta device). A grid's trained network is counted as the space's smallest
    (a floor whatever cell a search finds), an evaluation's as its own architecture's: a batch
    the largest network could not take is accepted for the smallest."""
    import nas.memory

    monkeypatch.setattr(nas.memory, "available_bytes", lambda device: (16 * 10**9, "16 GB"))
    s = get_space(space)
    config, train = space_config(space), s.TrainConfig()
    supernet = activation_bytes(lambda: s.counting_supernet(config, 3, 10, 32), 64, 3, 32)
    small = activation_bytes(lambda: s.smallest_network(train, 3, 10), 64, 3, 32)
    large = activation_bytes(lambda: s.largest_network(train, 3, 10), 64, 3, 32)
    assert supernet > 10**9 and large > 3 * small > 0   # (DARTS: 7.3, 5.9, 1.8 GB; NB201: 1.7, 0.7, 0.1)
    check_space_fits(space, space_config=config, train_config=train, shape=(3, 32), search_batch=64)
    with pytest.raises(ValueError, match="supernet .* at batch 1,000,000 of 3×32×32 images"):
        check_space_fits(space, space_config=config, shape=(3, 32), search_batch=1_000_000)
    # a batch whose largest network needs 2 × 16 GB, whose smallest needs under 16 GB
    batch = int(2 * 16 * 10**9 / (KEPT * large / 64))
    assert KEPT * small / 64 * batch < 10 * 10**9
    fat = dataclasses.replace(train, batch_size=batch)
    check_space_fits(space, train_config=fat, shape=(3, 32))
    with pytest.raises(ValueError, match=f"at batch {batch:,} of 3×32×32 images"):
        check_space_fits(space, train_config=fat, shape=(3, 32),
                         network=lambda c, k: s.largest_network(fat, c, k))


def test_the_dense_dag_space_is_not_counted_on_the_meta_device():
    """Its supernet reads tensors' values while built (the module docstring says so): no count,
    and so no refusal, rather than a wrong one."""
    s = get_space("dense-dag")
    config = space_config("dense-dag")
    assert activation_bytes(lambda: s.counting_supernet(config, 3, 10, 32), 10**9, 3, 32) is None
    check_space_fits("dense-dag", space_config=config, shape=(3, 32), search_batch=10**9)


def test_the_shapes_known_without_loading_are_the_loaded_ones(digits):
    from nas.data import DATASET_SHAPES, dataset_shape

    assert dataset_shape("digits") == (digits.in_channels, digits.image_size) == DATASET_SHAPES["digits"]
    assert dataset_shape("digits", 16) == (1, 16)
    assert dataset_shape("imagefolder:/x") is None and dataset_shape("nonsense") is None
