import dataclasses

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


def _through_a_file(state):
    """What a checkpoint becomes after torch.save and torch.load (as the grid's trials store it)."""
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


def test_a_training_resumed_from_an_epochs_checkpoint_ends_as_the_uninterrupted_one(tiny_digits):
    # drop path and cutout on: the resumed epochs draw their masks from the restored random states
    cfg = EvalConfig(channels=4, layers=3, epochs=3, batch_size=64, drop_path_prob=0.3, cutout=4,
                     auxiliary=False)
    saved = []
    full = train_and_test(DARTS_V2, tiny_digits, cfg,
                          on_checkpoint=lambda st: saved.append(_through_a_file(st)))
    assert [st["epoch"] for st in saved] == [1, 2, 3]
    torch.manual_seed(123)                   # the process's random state moved on meanwhile
    epochs = []
    resumed = train_and_test(DARTS_V2, tiny_digits, cfg, resume=saved[0],
                             on_epoch=lambda r: epochs.append(r["epoch"]))
    assert epochs == [1, 2]                  # the finished epoch is not redone
    for key in ("test_acc", "test_loss", "train_acc"):
        assert resumed[key] == full[key]
    for a, b in zip(resumed["history"], full["history"]):
        assert a["train_loss"] == b["train_loss"] and a["lr"] == b["lr"]
    finished = train_and_test(DARTS_V2, tiny_digits, cfg, resume=saved[-1],
                              on_epoch=lambda r: epochs.append(r["epoch"]))
    assert epochs == [1, 2] and finished["test_acc"] == full["test_acc"]   # only the test left
    with pytest.raises(ValueError, match="belongs to a training with another configuration"):
        train_and_test(DARTS_V2, tiny_digits, dataclasses.replace(cfg, lr=0.1), resume=saved[0])


def _trained(speed, steps=3, drop=0.0):
    from nas.evaluate import Trainer

    torch.manual_seed(0)
    net = EvalNetwork(DARTS_V2, channels=4, layers=3, num_classes=10, in_channels=3).train()
    net.drop_path_prob = drop
    trainer = Trainer(net, EvalConfig(channels=4, layers=3, speed=speed), torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 3, 16, 16, generator=g), torch.randint(0, 10, (8,), generator=g)
    losses = [float(trainer.step(x, y)[0]) for _ in range(steps)]
    return losses, [p.detach().clone() for p in net.parameters()]


def test_channels_last_training_steps_match_the_plain_ones():
    l0, p0 = _trained(())
    l1, p1 = _trained(("channels_last",))
    assert p1[0].dim() == 4 and p1[0].is_contiguous(memory_format=torch.channels_last)
    assert l0 == pytest.approx(l1, rel=1e-4)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(p0, p1))


def test_mixed_precision_training_steps_stay_close():
    l0, _ = _trained(())
    l1, p1 = _trained(("amp",))
    assert l0 == pytest.approx(l1, rel=0.05)      # bf16 rounding, not another computation
    assert l0 != l1                               # … but autocast did run
    assert all(p.dtype == torch.float32 for p in p1)


def test_compiled_training_matches_eager_and_does_not_recompile_as_drop_path_rises():
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    l0, p0 = _trained(())
    l1, p1 = _trained(("compile",))
    assert l0 == pytest.approx(l1, rel=1e-4)
    assert all(torch.allclose(a, b, rtol=1e-3, atol=1e-5) for a, b in zip(p0, p1))
    # The drop-path probability is a buffer, so raising it each epoch reuses the compiled graph.
    from nas.evaluate import Trainer

    net = EvalNetwork(DARTS_V2, channels=4, layers=3, num_classes=10, in_channels=3).train()
    trainer = Trainer(net, EvalConfig(channels=4, layers=3, speed=("compile",)), torch.device("cpu"))
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    net.drop_path_prob = 0.1
    trainer.step(x, y)
    graphs = counters["stats"]["unique_graphs"]
    for p in (0.12, 0.14, 0.16):
        net.drop_path_prob = p
        trainer.step(x, y)
    assert counters["stats"]["unique_graphs"] == graphs
