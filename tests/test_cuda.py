"""On a CUDA device (skipped without one; `python -m pytest -m cuda`, which the GPU acceptance check
runs): the search steps and the evaluation's training step compute what they compute on the CPU."""

import pytest
import torch

from nas.spaces import make_supernet, space_config
from nas.strategies import make_strategy

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.fixture
def no_tf32():
    """fp32 matmuls and convolutions on the GPU, as on the CPU (TF32 rounds to 10 mantissa bits)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _hypergradient(name, device):
    torch.manual_seed(0)
    net = make_supernet("darts", space_config("darts", channels=4, layers=3, nodes=2, multiplier=2),
                        3, 10).to(device)
    s = make_strategy(name, net)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(8, 3, 16, 16, generator=g).to(device),
                torch.randint(0, 10, (8,), generator=g).to(device)) for _ in range(2)]
    return [h.detach().cpu() for h in s.hypergradient(*batches)]


@pytest.mark.parametrize("name", ["first-order", "second-order", "second-order-exact",
                                  "implicit-neumann", "hyperdarts-linear"])
def test_a_hypergradient_on_the_gpu_matches_the_cpus(name, no_tf32):
    # the α gradient itself, not a step: Adam's first step moves α by about lr·sign(g), which
    # rounding can flip where g is near 0
    for x, y in zip(_hypergradient(name, "cpu"), _hypergradient(name, "cuda")):
        assert torch.allclose(x, y, rtol=1e-3, atol=1e-6)


def test_the_evaluation_trains_on_the_gpu_with_every_switch():
    from nas.evaluate import EvalConfig, EvalNetwork, Trainer
    from nas.genotype import DARTS_V2

    torch.manual_seed(0)
    net = EvalNetwork(DARTS_V2, 8, 3, 10, 3, auxiliary=True).cuda().train()
    trainer = Trainer(net, EvalConfig(channels=8, layers=3, batch_size=16,
                                      speed=("amp", "channels_last", "cudnn_benchmark")),
                      torch.device("cuda"))
    x, y = torch.randn(16, 3, 32, 32, device="cuda"), torch.randint(0, 10, (16,), device="cuda")
    losses = [float(trainer.step(x, y)[0]) for _ in range(5)]
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
