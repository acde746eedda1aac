import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

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


def test_a_training_resumed_from_an_epochs_checkpoint_ends_as_the_uninterrupted_one(tiny_digits,
                                                                                    through_a_file):
    # drop path and cutout on: the resumed epochs draw their masks from the restored random states
    cfg = EvalConfig(channels=4, layers=3, epochs=3, batch_size=64, drop_path_prob=0.3, cutout=4,
                     auxiliary=False)
    saved = []
    full = train_and_test(DARTS_V2, tiny_digits, cfg,
                          on_checkpoint=lambda st: saved.append(through_a_file(st)))
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


def _reference_trained(steps=3):
    """`_trained`'s steps by the hand-written recipe (`_reference_step`): the speed switches are
    checked against it, not against the code they switch."""
    torch.manual_seed(0)
    net = EvalNetwork(DARTS_V2, channels=4, layers=3, num_classes=10, in_channels=3).train()
    cfg = EvalConfig(channels=4, layers=3)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 3, 16, 16, generator=g), torch.randint(0, 10, (8,), generator=g)
    bufs = {}
    losses = [float(_reference_step(net, bufs, x, y, cfg, cfg.lr)[0]) for _ in range(steps)]
    return losses, [p.detach().clone() for p in net.parameters()]


def test_plain_and_channels_last_training_steps_match_the_reference():
    l_ref, p_ref = _reference_trained()
    for speed in ((), ("channels_last",)):
        losses, params = _trained(speed)
        assert losses == pytest.approx(l_ref, rel=1e-4), speed
        assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(params, p_ref)), speed
    assert params[0].dim() == 4 and params[0].is_contiguous(memory_format=torch.channels_last)


def test_mixed_precision_training_steps_stay_close_to_the_reference():
    l_ref, p_ref = _reference_trained()
    l1, p1 = _trained(("amp",))
    assert l1 == pytest.approx(l_ref, rel=0.05)   # bf16 rounding, not another computation
    assert l1 != pytest.approx(l_ref, rel=1e-6)   # … but autocast did run
    assert all(p.dtype == torch.float32 for p in p1)
    # the steps moved the weights as the reference's did, to bf16's precision: 0.11 apart
    # (relative); a recipe without its auxiliary loss would be 0.65 apart, without clipping 1.1,
    # without momentum 0.48 (a finer error, aux weight 0.3 for 0.4 at 0.15, is the fp32 tests' job)
    p0 = _reference_trained(steps=0)[1]
    moved = torch.cat([(b - a).flatten() for a, b in zip(p0, p_ref)])
    moved_amp = torch.cat([(b - a).flatten() for a, b in zip(p0, p1)])
    assert float((moved_amp - moved).norm() / moved.norm()) < 0.2


def test_compiled_training_matches_eager_and_does_not_recompile_as_drop_path_rises():
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    l0, p0 = _reference_trained()
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


# ---------------------------------------------------------------- the recipe, against a reference


def _reference_training(genotype, data, cfg, net=None):
    """The DARTS evaluation recipe written out by hand, independently of `Trainer`: cosine lr per
    epoch, drop path raised linearly from 0, cross-entropy plus `auxiliary_weight` × the auxiliary
    head's, the gradient's global norm clipped to `grad_clip`, SGD with momentum and L2 weight
    decay (PyTorch's rule: d = g + wd·p; b = m·b + d, b = d at the first step; p −= lr·b); cutout
    the dataset's where the config says None. Returns (state, lr per epoch, mean loss per epoch,
    clipped steps)."""
    from nas.data import Augment, Batches
    from nas.evaluate import build_network

    torch.manual_seed(cfg.seed)
    net = build_network(genotype, data, cfg) if net is None else net
    cut = data.eval_cutout if cfg.cutout is None else cfg.cutout
    batches = Batches(data.train_x, data.train_y, cfg.batch_size, data.mean, data.std,
                      augment=Augment(data.augment.crop_padding, data.augment.flip, cut), seed=cfg.seed)
    bufs = {}
    lrs, losses, clipped = [], [], 0
    for epoch in range(cfg.epochs):
        net.train()
        net.drop_path_prob = cfg.drop_path_prob * epoch / cfg.epochs
        lr = cfg.lr_min + (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * epoch / cfg.epochs)) / 2
        lrs.append(lr)
        total, n = 0.0, 0
        for x, y in batches:
            loss, scale = _reference_step(net, bufs, x, y, cfg, lr)
            clipped += scale < 1.0
            total += float(loss.detach()) * len(y)
            n += len(y)
        losses.append(total / n)
    return net.state_dict(), lrs, losses, clipped


def _reference_step(net, bufs, x, y, cfg, lr):
    """One step of the recipe by hand (see `_reference_training`); returns (loss, clip scale)."""
    params = list(net.parameters())
    logits, aux = net(x)
    loss = F.cross_entropy(logits, y)
    if cfg.auxiliary:
        loss = loss + cfg.auxiliary_weight * F.cross_entropy(aux, y)
    grads = torch.autograd.grad(loss, params)
    norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
    scale = min(1.0, cfg.grad_clip / (norm + 1e-6)) if cfg.grad_clip > 0 else 1.0
    with torch.no_grad():
        for i, (p, g) in enumerate(zip(params, grads)):
            d = g * scale + cfg.weight_decay * p
            bufs[i] = d.clone() if i not in bufs else cfg.momentum * bufs[i] + d
            p -= lr * bufs[i]
    return loss.detach(), scale


def _recipe_data(digits):
    # 48 images, 3 steps an epoch at batch 16; the dataset's evaluation cutout is 3 pixels
    return dataclasses.replace(digits, train_x=digits.train_x[:48], train_y=digits.train_y[:48],
                               test_x=digits.test_x[:16], test_y=digits.test_y[:16], eval_cutout=3)


@pytest.mark.parametrize("auxiliary", [True, False])
def test_the_evaluation_trains_by_the_darts_recipe_step_for_step(digits, auxiliary):
    data = _recipe_data(digits)
    # values unlike the defaults, so that a default used in place of the config shows
    cfg = EvalConfig(channels=4, layers=3, epochs=3, batch_size=16, lr=0.05, lr_min=0.001,
                     momentum=0.8, weight_decay=0.03, grad_clip=0.5, auxiliary=auxiliary,
                     auxiliary_weight=0.7, drop_path_prob=0.45, seed=5)
    saved = []
    result = train_and_test(DARTS_V2, data, cfg, on_checkpoint=saved.append)
    want, lrs, losses, clipped = _reference_training(DARTS_V2, data, cfg)
    assert clipped >= 3                                   # the clipping bound binds
    got = saved[-1]["model"]
    assert set(got) == set(want)
    for k in want:
        # (float32 rounding: the clipping norm in float32 there, float64 here; a wrong setting
        # moves weights by 1e-2 or more, see the next test)
        assert torch.allclose(got[k].float(), want[k].float(), rtol=1e-4, atol=5e-5), k
    h = result["history"]
    assert [r["lr"] for r in h] == pytest.approx(lrs, rel=1e-12)
    assert [r["drop_path_prob"] for r in h] == pytest.approx([0.0, 0.15, 0.3])
    assert [r["train_loss"] for r in h] == pytest.approx(losses, rel=1e-5)


def test_each_part_of_the_recipe_changes_the_trained_weights(digits):
    """The reference test above can only catch what changes the weights: here each setting does."""
    data = _recipe_data(digits)
    cfg = EvalConfig(channels=4, layers=3, epochs=2, batch_size=16, lr=0.05, momentum=0.8,
                     weight_decay=0.03, grad_clip=0.5, auxiliary_weight=0.7, drop_path_prob=0.45)
    base = _reference_training(DARTS_V2, data, cfg)[0]
    for change in ({"weight_decay": 0.0}, {"grad_clip": 0.0}, {"auxiliary_weight": 0.4},
                   {"drop_path_prob": 0.0}, {"cutout": 0}, {"momentum": 0.9}, {"lr_min": 0.02}):
        other = _reference_training(DARTS_V2, data, dataclasses.replace(cfg, **change))[0]
        differs = max(float((other[k].float() - base[k].float()).abs().max()) for k in base)
        assert differs > 1e-3, change


def test_bad_settings_are_refused_with_the_setting_and_its_value():
    for name in ("channels", "layers", "epochs", "batch_size"):
        EvalConfig(**{name: 1})
        with pytest.raises(ValueError, match=rf"^{name} must be at least 1, got 0$"):
            EvalConfig(**{name: 0})
    EvalConfig(drop_path_prob=0.0)
    EvalConfig(drop_path_prob=0.99)
    for p in (-0.1, 1.0):
        with pytest.raises(ValueError, match=rf"^drop_path_prob must be in \[0, 1\), got {p}$"):
            EvalConfig(drop_path_prob=p)


def test_an_evaluation_whose_loss_is_not_finite_stops_and_says_where(tiny_digits, monkeypatch):
    from nas.evaluate import Trainer

    step = Trainer.step
    calls = []

    def poisoned(self, x, y):
        loss, logits = step(self, x, y)
        calls.append(1)
        return (loss * float("inf") if len(calls) > 2 else loss), logits   # from epoch 1 on

    monkeypatch.setattr(Trainer, "step", poisoned)
    cfg = EvalConfig(channels=4, layers=2, epochs=3, batch_size=128, auxiliary=False)
    epochs = []
    with pytest.raises(FloatingPointError, match=r"^the evaluation diverged: train loss is inf at epoch 1$"):
        train_and_test(DARTS_V2, tiny_digits, cfg, on_epoch=epochs.append)
    assert [r["epoch"] for r in epochs] == [0]


def test_normal_and_reduction_cells_concatenate_their_own_nodes():
    from nas.genotype import Genotype

    g = Genotype(normal=DARTS_V2.normal, normal_concat=[2, 3, 4, 5],
                 reduce=DARTS_V2.reduce, reduce_concat=[4, 5])
    net = EvalNetwork(g, channels=4, layers=3, auxiliary=False)   # cells: normal, reduce, reduce
    assert [c.concat for c in net.cells] == [[2, 3, 4, 5], [4, 5], [4, 5]]
    assert net.classifier.in_features == 2 * 16 and net.classifier.out_features == 10   # CIFAR-10's
    logits, _ = net(torch.randn(2, 3, 16, 16))
    assert logits.shape == (2, 10)


def test_the_checkpoints_carry_the_training_time_so_far_and_a_resume_adds_to_it(tiny_digits):
    cfg = EvalConfig(channels=4, layers=2, epochs=2, batch_size=128, auxiliary=False)
    saved = []
    full = train_and_test(DARTS_V2, tiny_digits, cfg, on_checkpoint=saved.append)
    epoch_times = [r["epoch_time_s"] for r in full["history"]]
    assert 0 < epoch_times[0] <= saved[0]["elapsed"] < saved[1]["elapsed"] <= full["train_time_s"]
    assert saved[1]["elapsed"] >= sum(epoch_times)
    resumed = train_and_test(DARTS_V2, tiny_digits, cfg, resume=saved[0])
    assert resumed["train_time_s"] >= saved[0]["elapsed"] + resumed["history"][-1]["epoch_time_s"]


def test_the_drop_path_probability_is_not_saved_with_the_weights():
    """A trained network's weights load into a network built afresh, whatever drop path it had."""
    net = EvalNetwork(DARTS_V2, channels=4, layers=3)
    net.drop_path_prob = 0.3
    assert not any("drop" in k for k in net.state_dict())
    fresh = EvalNetwork(DARTS_V2, channels=4, layers=3)
    fresh.load_state_dict(net.state_dict())
    assert fresh.drop_path_prob == 0.0 and float(fresh._drop_prob) == 0.0
