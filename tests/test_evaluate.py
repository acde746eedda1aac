import pytest
import torch

from nas.evaluate import EvalConfig, EvalNetwork, count_parameters, drop_path, train_and_test
from nas.genotype import DARTS_V2


def test_darts_v2_network_has_the_published_parameter_count():
    # DARTS (second order), CIFAR-10: 3.3M in the paper's Table 1; 3.349342 MB printed by
    # the reference train.py (C=36, 20 cells, auxiliary head excluded).
    net = EvalNetwork(DARTS_V2, channels=36, layers=20, num_classes=10, in_channels=3)
    assert count_parameters(net) == 3_349_342
    assert sum(p.numel() for p in net.parameters()) > count_parameters(net)


def test_forward_returns_auxiliary_logits_only_in_training():
    net = EvalNetwork(DARTS_V2, channels=8, layers=6, num_classes=7, in_channels=3)
    net.train()
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 7) and aux.shape == (2, 7)
    net.eval()
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert aux is None


def test_auxiliary_head_works_on_small_images():
    net = EvalNetwork(DARTS_V2, channels=4, layers=3, num_classes=10, in_channels=1).train()
    _, aux = net(torch.randn(2, 1, 8, 8))
    assert aux.shape == (2, 10)


def test_drop_path_keeps_the_expectation():
    torch.manual_seed(0)
    x = torch.ones(20000, 1, 1, 1)
    y = drop_path(x, 0.3)
    values = torch.unique(y).tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / 0.7)
    assert float(y.mean()) == pytest.approx(1.0, abs=0.03)


def test_training_from_scratch_learns_digits(tiny_digits):
    cfg = EvalConfig(channels=8, layers=3, epochs=4, batch_size=32)
    result = train_and_test(DARTS_V2, tiny_digits, cfg)
    assert len(result["history"]) == 4
    assert result["history"][-1]["train_loss"] < result["history"][0]["train_loss"]
    assert result["test_acc"] > 0.3  # chance is 0.1
    assert result["params"] == count_parameters(
        EvalNetwork(DARTS_V2, 8, 3, 10, 1))
