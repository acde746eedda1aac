"""NAS-Bench-201's network: its parameter counts equal the benchmark's own code's, and it runs."""

import json
from pathlib import Path

import pytest
import torch

from nas.spaces.nb201_cell import Cell
from nas.spaces.nb201_net import NB201Network

GOLDEN = json.loads((Path(__file__).parent / "golden" / "nb201_params.json").read_text())


@pytest.mark.parametrize("row", GOLDEN["rows"], ids=lambda r: f"{r['arch'][:28]}…-{r['classes']}")
def test_the_parameter_count_is_the_published_networks(row):
    """At C = 16, N = 5 (the benchmark's size), as counted with NAS-Bench-201's own code (the
    golden file says where and how)."""
    net = NB201Network(Cell.parse(row["arch"]), 16, 5, row["classes"])
    assert sum(p.numel() for p in net.parameters()) == row["params"]


def test_a_small_network_runs_forward_and_backward_and_an_all_none_cell_outputs_zero():
    torch.manual_seed(0)
    x = torch.randn(2, 1, 8, 8)
    cell = Cell.parse("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+"
                      "|none~0|nor_conv_1x1~1|skip_connect~2|")
    net = NB201Network(cell, channels=4, cells_per_stage=1, num_classes=3, in_channels=1)
    out = net(x)
    assert out.shape == (2, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    zero = NB201Network(Cell.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), 4, 1, 3, 1)
    # every cell outputs zero: only the blocks between stages carry the input on
    assert torch.equal(zero.cells[0](torch.randn(2, 4, 8, 8)), torch.zeros(2, 4, 8, 8))


@pytest.mark.parametrize("arch", [
    "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|avg_pool_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|",
])
def test_the_fast_network_computes_what_nas_bench_201s_formulation_computes(arch):
    """Channels-last, the pool as a box convolution and `none` edges skipped (the CPU speed-ups)
    change neither the outputs nor the gradients of the same weights."""
    from benchmark.nb201_throughput import ReferenceCell, reference_network
    from nas.spaces.nb201 import NB201TrainConfig

    cell, config = Cell.parse(arch), NB201TrainConfig(channels=4, cells_per_stage=2)

    class Data:
        num_classes, in_channels = 10, 3

    torch.manual_seed(0)
    fast = NB201Network(cell, 4, 2, 10, 3).channels_last()
    torch.manual_seed(0)
    ref = reference_network(cell, config, Data)
    assert any(isinstance(m, ReferenceCell) for m in ref.modules())
    assert not any(isinstance(m, torch.nn.AvgPool2d) and m.kernel_size == 3 for m in fast.modules())
    x = torch.randn(6, 3, 8, 8)
    out_fast, out_ref = fast(x), ref(x)
    torch.testing.assert_close(out_fast, out_ref, rtol=1e-4, atol=1e-5)
    out_fast.square().sum().backward()
    out_ref.square().sum().backward()
    # (a part cut off by a zero cell gets no gradient in the fast network, zeros in NAS-Bench-201's:
    # either way it cannot change the output)
    for (name, p), q in zip(fast.named_parameters(), ref.parameters()):
        grad = p.grad if p.grad is not None else torch.zeros_like(p)
        torch.testing.assert_close(grad, q.grad, rtol=1e-3, atol=1e-5, msg=name)
