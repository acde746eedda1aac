import dataclasses
import json

import pytest
import torch

from nas.data import ImageData
from nas.genotype import parse_genotype
from nas.search import Search, SearchConfig, run_search
from nas.strategies import STRATEGIES

TINY = {"channels": 4, "layers": 3}


def _config(**kw):
    base = {"dataset": "digits", "epochs": 2, "batch_size": 64, "space_options": TINY}
    return SearchConfig.of(**{**base, **kw})


def test_search_records_every_epoch_and_writes_its_outputs(tiny_digits, tmp_path):
    result = run_search(_config(), data=tiny_digits, out_dir=tmp_path)
    assert len(result.history) == 2
    r = result.final
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "w_lr", "epoch_time_s",
                "genotype", "alpha_normal", "alpha_reduce"):
        assert key in r
    assert r["steps"] == 2  # 128 search-train images at batch 64
    probs = torch.tensor(r["alpha_normal"])
    assert probs.shape == (14, 8) and torch.allclose(probs.sum(1), torch.ones(14))
    assert parse_genotype((tmp_path / "genotype.txt").read_text()) == result.genotype
    assert parse_genotype((tmp_path / "genotype.json").read_text()) == result.genotype
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [0, 1]
    alphas = json.loads((tmp_path / "alphas.json").read_text())
    assert len(alphas["epochs"]) == 2 and len(alphas["edges"]) == 14
    assert alphas["epochs"][-1]["normal"] == r["alpha_normal"]


def test_same_seed_same_genotype_and_alphas(tiny_digits):
    a = run_search(_config(epochs=1), data=tiny_digits)
    b = run_search(_config(epochs=1), data=tiny_digits)
    assert a.genotype == b.genotype
    assert a.final["alpha_normal"] == b.final["alpha_normal"]
    c = run_search(_config(epochs=1, seed=1), data=tiny_digits)
    assert c.final["alpha_normal"] != a.final["alpha_normal"]


def test_resume_from_a_checkpoint_continues_exactly(tiny_digits, tmp_path):
    straight = run_search(_config(), data=tiny_digits)
    # stop after one epoch: run a 2-epoch search object for one epoch and save it
    from nas.search import write_search_outputs

    s = Search(_config(), data=tiny_digits)
    s.run_epoch()
    write_search_outputs(s, tmp_path)
    resumed = run_search(_config(), data=tiny_digits, out_dir=tmp_path)
    assert [r["epoch"] for r in resumed.history] == [0, 1]
    assert resumed.final["alpha_normal"] == straight.final["alpha_normal"]
    assert resumed.final["train_loss"] == pytest.approx(straight.final["train_loss"], rel=1e-6)


def test_the_checkpoint_keeps_every_global_random_state_and_another_format_is_refused(tiny_digits):
    import random

    import numpy as np
    import torch

    s = Search(_config(epochs=1), data=tiny_digits)
    random.random(), np.random.rand(), torch.rand(3)     # away from what a new Search seeds
    state = s.state_dict()
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda"}
    draws = (random.random(), float(np.random.rand()), float(torch.rand(())))
    Search(_config(epochs=1), data=tiny_digits).load_state_dict(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == draws
    old = {k: v for k, v in state.items() if k != "format"}     # written before the format key
    with pytest.raises(ValueError, match="format 1, written by another version"):
        Search(_config(epochs=1), data=tiny_digits).load_state_dict(old)


def test_a_folder_of_another_search_is_refused(tiny_digits, tmp_path):
    run_search(_config(epochs=1), data=tiny_digits, out_dir=tmp_path)
    with pytest.raises(ValueError, match="another configuration"):
        run_search(_config(epochs=1, seed=5), data=tiny_digits, out_dir=tmp_path)


def test_bad_names_fail_before_any_work():
    with pytest.raises(ValueError, match="valid strategies"):
        SearchConfig(strategy="zeroth-order")
    with pytest.raises(ValueError, match="no option"):
        SearchConfig.of(strategy_options={"xi": 0.1})


def test_speed_switches_are_part_of_the_config():
    c = SearchConfig(speed=("channels-last",))
    assert c.speed == ("channels_last",)
    assert c.to_dict() != SearchConfig().to_dict()
    with pytest.raises(ValueError, match="evaluation network only"):
        SearchConfig(speed=("compile",))
    with pytest.raises(ValueError, match="unknown speed option 'fast'"):
        SearchConfig(speed=("fast",))


def test_the_typed_configs_are_the_named_space_and_strategy_ones():
    """A SearchConfig holds typed configs: of the named space and strategy, the strategy's schedule
    the search's epochs; `of` builds them from options, and an option spelt out at its default is
    the same search."""
    from dataclasses import asdict

    from nas.spaces.darts import DartsSpaceConfig
    from nas.spaces.nb201 import NB201Config
    from nas.strategies.hyperdarts import HyperDartsConfig

    short = SearchConfig.of(space_options={"channels": 4, "layers": 3, "nodes": 2, "multiplier": 2})
    full = SearchConfig.of(space_options=asdict(DartsSpaceConfig(channels=4, layers=3, nodes=2,
                                                                 multiplier=2)))
    assert short == full and short.to_dict() == full.to_dict()
    assert short.strategy_config.epochs == short.epochs == 50
    with pytest.raises(ValueError, match="darts space takes a DartsSpaceConfig, not a NB201Config"):
        SearchConfig(space_config=NB201Config())
    with pytest.raises(ValueError, match="first-order strategy takes a StrategyConfig, not a HyperDarts"):
        SearchConfig(strategy_config=HyperDartsConfig())
    with pytest.raises(ValueError, match="runs 50 epochs, the search 3"):
        SearchConfig(epochs=3, strategy_config=HyperDartsConfig(), strategy="hyperdarts-mlp")
    assert SearchConfig(strategy="hyperdarts-linear", epochs=3).strategy_config == HyperDartsConfig(epochs=3)


def _indexed_data(n: int = 96) -> ImageData:
    """8×8 grey images whose every pixel is the image's index (labels index mod 4), with crop,
    flip and a cutout of 4: the centre 4×4 pixels of a batch say which image it is and whether
    cutout ran (a crop with padding 2 never moves them off the image)."""
    from nas.data import Augment

    x = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 8, 8).contiguous()
    y = torch.arange(n) % 4
    return ImageData("indexed", x, y, x[:8].clone(), y[:8].clone(), ["a", "b", "c", "d"], (0.0,),
                     (1.0,), Augment(crop_padding=2, flip=True, cutout=4))


def _ids(batch) -> list[int]:
    x, y = batch
    centre = (x[:, 0, 2:6, 2:6] * 255).round().long()
    ids = centre.flatten(1).max(1).values
    assert (centre == ids.view(-1, 1, 1)).all(), "a search batch was cut out or not the image"
    assert torch.equal(y, ids % 4)
    return ids.tolist()


def _seen_batches(config, data, epochs=1):
    s = Search(config, data=data)
    seen = []
    s.strategy.step = lambda tb, vb: seen.append((_ids(tb), _ids(vb))) or {}
    for _ in range(epochs):
        seen.append("epoch")
        s.run_epoch()
    return seen


def test_the_search_steps_w_on_one_half_and_alpha_on_the_other_each_once_per_epoch():
    from nas.data import search_split

    data = _indexed_data(96)
    seen = _seen_batches(_config(batch_size=16, seed=3, space_options={"channels": 2, "layers": 2}),
                         data, epochs=2)
    train_idx, val_idx = (set(i.tolist()) for i in search_split(96, 3, 0.5))
    assert len(train_idx) == len(val_idx) == 48 and not train_idx & val_idx
    epochs = [[]]
    for item in seen[1:]:
        epochs.append([]) if item == "epoch" else epochs[-1].append(item)
    orders = []
    for steps in epochs:
        assert len(steps) == 3 and all(len(t) == len(v) == 16 for t, v in steps)
        w_images = [i for t, _ in steps for i in t]
        alpha_images = [i for _, v in steps for i in v]
        assert sorted(w_images) == sorted(train_idx) and sorted(alpha_images) == sorted(val_idx)
        orders.append((w_images, alpha_images))
    assert orders[0][0] != orders[1][0] and orders[0][1] != orders[1][1]   # reshuffled each epoch
    # another seed: another split
    other = _seen_batches(_config(batch_size=16, seed=4, space_options={"channels": 2, "layers": 2}),
                          data)
    assert {i for t, _ in other[1:] for i in t} == set(search_split(96, 4, 0.5)[0].tolist()) != train_idx


def test_the_train_fraction_sizes_the_halves_and_alpha_data_train_uses_all_of_it_twice():
    data = _indexed_data(96)
    tiny = {"channels": 2, "layers": 2}
    seen = _seen_batches(_config(batch_size=8, train_fraction=0.25, space_options=tiny), data)[1:]
    assert len(seen) == 3                                    # min(24 // 8, 72 // 8) steps
    w_images = {i for t, _ in seen for i in t}
    assert len(w_images) == 24 and not w_images & {i for _, v in seen for i in v}
    seen = _seen_batches(_config(batch_size=16, alpha_data="train", space_options=tiny), data)[1:]
    w_images = [i for t, _ in seen for i in t]
    alpha_images = [i for _, v in seen for i in v]
    assert len(seen) == 6 and sorted(w_images) == sorted(alpha_images) == list(range(96))
    assert w_images != alpha_images                          # the same images, in other orders


def _scramble_random_states():
    """What else the process draws between a checkpoint and its resume (another trial, a library)."""
    import random

    import numpy as np

    random.seed(12345)
    np.random.seed(12345)
    torch.manual_seed(12345)


def _equal(a, b) -> bool:
    """Bit for bit, through dicts, lists and tuples of tensors."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


DENSE = {"blocks": 4, "layers": 4, "width": 8, "resample_every": 1}
RESUME_CASES = [("darts", s, {}) for s in STRATEGIES] + [
    ("darts", "first-order", {"partial_channels": 2}),
    ("dense-dag", "first-order-smoothed", DENSE),    # noisy α and the space's resampled DAGs
    ("dense-dag", "hyperdarts-mlp", DENSE)]


@pytest.mark.parametrize("space,strategy,options", RESUME_CASES,
                         ids=[f"{a}-{b}{'-pc' if 'partial_channels' in c else ''}"
                              for a, b, c in RESUME_CASES])
def test_every_strategy_resumes_mid_search_to_the_uninterrupted_result(space, strategy, options,
                                                                       tiny_digits, through_a_file):
    """The epochs after the first, run from the checkpoint written after it, in a process whose random
    states have moved on, ends with the same α, weights, strategy state and record as the search
    that was never interrupted: every random state the search draws from is in the checkpoint (the
    batches', the global ones that the smoothed and hyperDARTS strategies' noise comes from, the
    dense-DAG space's generator)."""
    space_options = options if space == "dense-dag" else {"channels": 2, "layers": 2, **options}
    # (3 epochs in the dense-DAG space: its DAGs are resampled after epoch 2, from the checkpoint's
    # generator state)
    epochs = 3 if space == "dense-dag" else 2
    config = SearchConfig.of(space=space, strategy=strategy, dataset="digits", epochs=epochs,
                          batch_size=32, space_options=space_options)
    data = dataclasses.replace(tiny_digits, train_x=tiny_digits.train_x[:128],
                               train_y=tiny_digits.train_y[:128])   # 2 steps an epoch
    straight = Search(config, data=data)
    straight.run_epoch()
    saved = through_a_file(straight.state_dict())
    last = [straight.run_epoch() for _ in range(epochs - 1)]
    _scramble_random_states()
    resumed = Search(config, data=data)
    _scramble_random_states()
    resumed.load_state_dict(saved)
    assert resumed.epoch == 1
    again = [resumed.run_epoch() for _ in range(epochs - 1)]
    timing = ("epoch_time_s", "epoch_cpu_s", "wall_time_s")
    assert [{k: v for k, v in r.items() if k not in timing} for r in again] == \
        [{k: v for k, v in r.items() if k not in timing} for r in last]
    for (name, a), (_, b) in zip(straight.supernet.state_dict().items(),
                                 resumed.supernet.state_dict().items()):
        assert (torch.equal(a, b) if isinstance(a, torch.Tensor) else str(a) == str(b)), name
    assert _equal(straight.strategy.state_dict(), resumed.strategy.state_dict())
    assert torch.equal(straight.train_batches.get_state(), resumed.train_batches.get_state())
    assert resumed.done and straight.genotype() == resumed.genotype()


def _recording_steps(search: Search, poison: dict | None = None) -> list[dict]:
    """Wrap the strategy's step: each step's metrics are kept (as floats); `poison` replaces some."""
    seen: list[dict] = []
    step = search.strategy.step

    def recorded(train_batch, val_batch):
        metrics = step(train_batch, val_batch)
        for k, v in (poison or {}).items():
            metrics[k] = torch.tensor(v)
        seen.append({k: float(v) for k, v in metrics.items()})
        return metrics

    search.strategy.step = recorded
    return seen


def test_an_epoch_record_holds_the_mean_of_its_steps_and_the_time_so_far(tiny_digits):
    search = Search(_config(), data=tiny_digits)
    seen = _recording_steps(search)
    first = search.run_epoch()
    assert len(seen) == first["steps"] == 2
    for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert first[k] == pytest.approx(sum(s[k] for s in seen) / 2, rel=1e-6)
    second = search.run_epoch()
    for k in ("train_loss", "val_loss"):
        assert second[k] == pytest.approx(sum(s[k] for s in seen[2:]) / 2, rel=1e-6)
    assert first["wall_time_s"] == first["epoch_time_s"] > 0
    assert second["wall_time_s"] == pytest.approx(first["epoch_time_s"] + second["epoch_time_s"])


def test_an_epoch_records_the_largest_hypergradient_and_how_far_alpha_moved(tiny_digits, tmp_path):
    search = Search(_config(strategy_options={"alpha_lr": 0.05}), data=tiny_digits)
    seen = _recording_steps(search, poison=None)
    start = {k: v.clone() for k, v in search.supernet.softmax_alphas().items()}
    first = search.run_epoch()
    norms = [s["hypergrad_norm"] for s in seen]
    assert first["hypergrad_norm_max"] == pytest.approx(max(norms), rel=1e-6)
    assert first["hypergrad_norm"] == pytest.approx(sum(norms) / 2, rel=1e-6)
    assert first["hypergrad_norm_max"] > first["hypergrad_norm"]   # two steps that differ

    def moved(before, after):
        return float(torch.cat([(torch.tensor(after[f"alpha_{k}"]).log() - b.log()).abs().flatten()
                                for k, b in before.items()]).mean())

    assert first["alpha_change"] == pytest.approx(moved(start, first), rel=1e-6)
    assert first["alpha_change"] > 0.01    # two Adam steps of 0.05
    second = search.run_epoch()
    previous = {k: torch.tensor(first[f"alpha_{k}"]) for k in start}
    assert second["alpha_change"] == pytest.approx(moved(previous, second), rel=1e-6)
    assert second["epoch_cpu_s"] > 0
    # the metrics file has the epoch's metrics; the α file only the α tensors
    from nas.search import write_search_outputs

    write_search_outputs(search, tmp_path)
    line = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["alpha_change"] == second["alpha_change"] and "alpha_normal" not in line
    assert set(json.loads((tmp_path / "alphas.json").read_text())["epochs"][-1]) == {
        "epoch", "normal", "reduce", "genotype"}


def test_alpha_does_not_move_in_a_search_that_does_not_search(tiny_digits):
    search = Search(_config(strategy="random"), data=tiny_digits)
    assert search.run_epoch()["alpha_change"] == 0.0


@pytest.mark.parametrize("loss", ["train_loss", "val_loss"])
def test_a_search_whose_loss_is_not_finite_stops_and_says_where(tiny_digits, loss):
    search = Search(_config(), data=tiny_digits)
    _recording_steps(search, {loss: float("nan")})
    with pytest.raises(FloatingPointError, match=f"^the search diverged: {loss} is nan at epoch 0$"):
        search.run_epoch()
    assert search.history == []


def test_diagnostics_run_every_nth_epoch_and_after_the_last(tiny_digits):
    search = Search(_config(epochs=3, strategy="first-order", diagnostics_every=2,
                            eigen_iterations=1), data=tiny_digits)
    while not search.done:
        search.run_epoch()
    assert ["largest_eigenvalue" in r for r in search.history] == [False, True, True]


def test_a_checkpoint_of_another_config_is_refused_by_the_search_itself(tiny_digits):
    other = Search(_config(seed=1), data=tiny_digits).state_dict()
    with pytest.raises(ValueError, match="^the checkpoint belongs to a search with another config"):
        Search(_config(), data=tiny_digits).load_state_dict(other)


def test_the_search_loads_its_dataset_from_the_given_root(tiny_digits, monkeypatch):
    asked = []

    def load(name, root, download):
        asked.append((name, root, download))
        return tiny_digits

    monkeypatch.setattr("nas.search.load_dataset", load)
    run_search(_config(epochs=1), data_root="/somewhere/data", download=True)
    assert asked == [("digits", "/somewhere/data", True)]


def test_the_output_folder_is_made_with_its_parents_and_holds_the_config_and_each_epochs_alphas(
        tiny_digits, tmp_path):
    out = tmp_path / "a" / "b"
    result = run_search(_config(), data=tiny_digits, out_dir=out)
    assert json.loads((out / "config.json").read_text()) == json.loads(json.dumps(_config().to_dict()))
    epochs = json.loads((out / "alphas.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [0, 1]
    assert all(set(e) == {"epoch", "normal", "reduce", "genotype"} for e in epochs)
    assert [e["genotype"] for e in epochs] == [r["genotype"] for r in result.history]
