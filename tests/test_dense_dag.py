"""The dense-DAG space: masked shared weights in one batched pass, DAG generation, every strategy."""

import pytest
import torch

from nas.search import Search, SearchConfig
from nas.spaces import make_supernet, space_config
from nas.spaces.dense_dag import (
    DagArchitecture,
    DagNet,
    allowed_edges,
    chain_dag,
    complete_dag,
    dag_properties,
    parse_dag,
    sample_dags,
)
from nas.strategies import SEARCHING, get_strategy, strategy_config


def _net(**kw):
    cfg = space_config("dense-dag", **{"blocks": 5, "layers": 5, "width": 16, **kw})
    return make_supernet("dense-dag", cfg, 1, 10, image_size=8)


def _reachable(mask: torch.Tensor) -> bool:
    layers = mask.shape[0]
    fwd = {0}
    for j in range(1, layers):
        if any(mask[i, j] and i in fwd for i in range(j)):
            fwd.add(j)
    back = {layers - 1}
    for i in range(layers - 2, -1, -1):
        if any(mask[i, j] and j in back for j in range(i + 1, layers)):
            back.add(i)
    return len(fwd) == layers and len(back) == layers


@pytest.mark.parametrize("layer", ["dense", "conv"])
def test_the_batched_masked_pass_equals_each_block_alone(layer):
    torch.manual_seed(0)
    net = _net(layer=layer)
    with torch.no_grad():
        net.alpha.copy_(torch.randn(5))
    x = torch.randn(7, 1, 8, 8)
    alone = torch.stack([DagNet.from_supernet(net, b)(x) for b in range(5)])   # its own masked weights
    torch.testing.assert_close(net.block_logits(x), alone, rtol=1e-5, atol=1e-6)
    mix = torch.einsum("k,kbc->bc", torch.softmax(net.alpha, 0), alone)
    torch.testing.assert_close(net(x), mix, rtol=1e-5, atol=1e-6)
    assert len({str(a) for a in net.architectures()}) > 1      # the blocks do differ


def test_dag_generation_respects_its_constraints_and_is_seeded():
    allowed = allowed_edges(6, max_skip=2)
    probs = torch.where(allowed, torch.full((6, 6), 0.3), torch.zeros(6, 6))
    a = sample_dags(probs, 200, torch.Generator().manual_seed(1), allowed)
    b = sample_dags(probs, 200, torch.Generator().manual_seed(1), allowed)
    assert torch.equal(a, b)
    assert not torch.equal(a, sample_dags(probs, 200, torch.Generator().manual_seed(2), allowed))
    assert not (a & ~allowed).any()                          # forward edges, skips of at most 2
    assert all(_reachable(m) for m in a)                     # input reaches every vertex, all reach output
    assert dag_properties(chain_dag(6)) == {"depth": 5.0, "edges": 5.0, "longest_skip": 1.0,
                                            "mean_fan_in": 1.0, "max_fan_in": 1.0}
    full = dag_properties(complete_dag(4))
    assert full["edges"] == 6 and full["depth"] == 3 and full["longest_skip"] == 3 and full["max_fan_in"] == 3
    assert torch.equal(_net(dag_seed=3).masks, _net(dag_seed=3).masks)


def test_architectures_round_trip_through_text_and_bad_text_is_one_sentence():
    arch = DagArchitecture.from_mask(complete_dag(4))
    assert parse_dag(str(arch)) == arch and torch.equal(arch.mask(), complete_dag(4))
    with pytest.raises(ValueError, match="not a DAG architecture"):
        parse_dag("DAG(layers=4")
    with pytest.raises(ValueError, match="does not go forward"):
        parse_dag("DAG(layers=3, edges=[(2, 1)])")


def test_stage_two_resamples_from_alpha_feedback_and_resets_alpha():
    net = _net(resample_every=1, feedback_rate=1.0, p_min=0.0)
    with torch.no_grad():
        net.alpha.copy_(torch.tensor([50.0, 0, 0, 0, 0]))   # all the weight on block 0
    winner = net.masks[0].clone()
    assert net.end_epoch(0)
    # With η = 1 the edge probabilities become block 0's edges (up to 1e-20): every new DAG is it.
    assert torch.equal(net.edge_probs > 0.5, winner)
    assert all(torch.equal(m, winner) for m in net.masks)
    assert torch.all(net.alpha == 0) and int(net.resamples) == 1
    assert not _net(resample_every=2).end_epoch(0)


@pytest.mark.parametrize("strategy", list(SEARCHING))
def test_every_strategy_runs_a_few_steps_on_the_space(strategy, tiny_digits):
    cfg = SearchConfig.of(space="dense-dag", strategy=strategy, dataset="digits", epochs=2, batch_size=64,
                       space_options={"blocks": 4, "layers": 4, "width": 16, "resample_every": 1})
    search = Search(cfg, tiny_digits)
    before = [p.detach().clone() for p in search.supernet.weight_parameters()]
    while not search.done:
        record = search.run_epoch()
    assert record["steps"] == 2 and len(record["alpha_blocks"]) == 4
    assert str(search.genotype()).startswith("DAG(layers=4")
    assert any(not torch.equal(a, b) for a, b in zip(before, search.supernet.weight_parameters()))
    assert int(search.supernet.resamples) == 1    # after epoch 1, not after the last one


def test_strategies_see_only_alpha_as_architecture():
    net = _net()
    s = get_strategy("first-order")(net, strategy_config("first-order"))
    assert s.alpha_names == ["alpha"] and "alpha" not in s.weight_names


def test_he_init_scales_each_vertex_by_its_fan_in_and_keeps_a_deep_chain_trainable():
    """Every standalone network is He-initialised by default: W_ij ~ N(0, 2 / (in-degree(j)·d)).
    Under nn.Linear's default init a 6-layer ReLU chain of width 64 loses its signal (the former
    study's chain at 0.66 on digits); under He init the activations keep their scale with depth."""
    from nas.spaces.dense_dag import DagArchitecture, DagNet

    arch = DagArchitecture(4, ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)))
    torch.manual_seed(0)
    net = DagNet(arch, 64, 256, 10)
    for j, k in ((1, 1), (2, 2), (3, 3)):
        w = net.edges[f"0_{j}"].weight
        assert float(w.detach().std()) == pytest.approx((2 / (k * 256)) ** 0.5, rel=0.05)
    chain = DagArchitecture(12, tuple((i, i + 1) for i in range(11)))
    x = torch.randn(512, 64)
    scales = {}
    for init in ("he", "pytorch"):
        torch.manual_seed(0)
        m = DagNet(chain, 64, 64, 10, init=init)
        h = m.act(m.inp(x))
        for j in range(1, 12):
            h = m.act(m.edges[f"{j - 1}_{j}"](h) + m.bias[j - 1])
        scales[init] = float(h.pow(2).mean().sqrt())
    assert 0.3 < scales["he"] < 3.0 and scales["pytorch"] < 0.05 * scales["he"]
    with pytest.raises(ValueError, match="unknown init"):
        DagNet(chain, 64, 64, 10, init="xavier")


def test_the_supernet_is_he_initialised_unless_asked_otherwise():
    from nas.spaces.dense_dag import DenseDagConfig, DenseDagSupernet

    torch.manual_seed(0)
    he = DenseDagSupernet(DenseDagConfig(blocks=4, layers=4, width=128, edge_prob=0.5), 1, 10, 8)
    old = DenseDagSupernet(DenseDagConfig(blocks=4, layers=4, width=128, init="pytorch"), 1, 10, 8)
    # vertex 3 reads about 3 × 0.5 = 1.5 inputs of width 128
    assert float(he.edge_weight[2].std()) == pytest.approx((2 / (1.5 * 128)) ** 0.5, rel=0.05)
    assert float(old.edge_weight[2].abs().max()) <= 128 ** -0.5


def test_the_conv_layer_space_trains_a_found_dag_of_filters(tiny_digits):
    """The conv variant: edges are 3×3 convolutions (filters), the head pools over space; a search
    step moves α and the found DAG trains standalone as a small CNN."""
    from nas.search import Search, SearchConfig
    from nas.spaces.dense_dag import StandaloneConfig, train_standalone

    search = Search(SearchConfig.of(space="dense-dag", strategy="first-order", dataset="digits", epochs=1,
                                 batch_size=32, seed=0,
                                 space_options=dict(blocks=3, layers=3, width=4, layer="conv")),
                    tiny_digits, "cpu")
    search.run_epoch()
    net = search.supernet
    assert net.edge_weight[1].shape == (4, 8, 3, 3) and float(net.alpha.detach().abs().sum()) > 0
    arch = search.genotype()
    result = train_standalone(arch, tiny_digits, 4, StandaloneConfig(epochs=1, batch_size=64),
                              torch.device("cpu"), layer="conv")
    assert 0.0 <= result["test_acc"] <= 1.0
    convs = 4 * 1 * 9 + 4 + 9 * 16 * len(arch.edges)     # input conv, its bias, the edges' filters
    assert result["params"] == convs + 4 * (arch.layers - 1) + 4 * 10 + 10


def test_a_standalone_training_resumes_from_an_epochs_checkpoint(tiny_digits):
    import io

    from nas.spaces.dense_dag import DagArchitecture, StandaloneConfig, chain_dag, train_standalone

    arch = DagArchitecture.from_mask(chain_dag(3))
    cfg = StandaloneConfig(epochs=3, batch_size=64)
    saved = []

    def keep(st):
        buf = io.BytesIO()
        torch.save(st, buf)
        buf.seek(0)
        saved.append(torch.load(buf, weights_only=False))

    full = train_standalone(arch, tiny_digits, 8, cfg, torch.device("cpu"), on_checkpoint=keep)
    torch.manual_seed(7)
    resumed = train_standalone(arch, tiny_digits, 8, cfg, torch.device("cpu"), resume=saved[1])
    assert [h["epoch"] for h in resumed["history"]] == [0, 1, 2]
    assert resumed["test_acc"] == full["test_acc"] and resumed["test_loss"] == full["test_loss"]
    assert resumed["history"][-1]["train_loss"] == full["history"][-1]["train_loss"]


def test_every_bad_dense_dag_setting_gets_its_whole_message_at_its_boundary():
    from nas.spaces.dense_dag import DagArchitecture, DagNet, StandaloneConfig, parse_dag

    def message(make, *args, **kwargs):
        with pytest.raises(ValueError) as e:
            make(*args, **kwargs)
        return str(e.value)

    space_config("dense-dag", blocks=1, layers=2, width=1, edge_prob=0.0)
    space_config("dense-dag", edge_prob=1.0)
    for bad, got in (({"blocks": 0}, "0, 4, 64"), ({"layers": 1}, "8, 1, 64"), ({"width": 0}, "8, 4, 0")):
        assert message(space_config, "dense-dag", **bad) == (
            f"the dense-dag space needs blocks ≥ 1, layers ≥ 2 and width ≥ 1 (got {got})")
    for p in (-0.1, 1.1):
        assert message(space_config, "dense-dag", edge_prob=p) == f"edge_prob must lie in [0, 1], not {p}"
    assert message(space_config, "dense-dag", activation="elu") == (
        "unknown activation 'elu'; valid: relu, gelu, tanh")
    assert message(space_config, "dense-dag", init="xavier") == "unknown init 'xavier'; valid: he, pytorch"
    assert message(space_config, "dense-dag", layer="attention") == (
        "unknown layer 'attention'; valid: dense, conv")
    arch = DagArchitecture(3, ((0, 1), (1, 2)))
    assert message(DagNet, arch, 4, 2, 3, init="xavier") == "unknown init 'xavier'; valid: he, pytorch"
    assert message(DagNet, arch, 4, 2, 3, layer="attention") == (
        "unknown layer 'attention'; valid: dense, conv")
    StandaloneConfig(epochs=1, batch_size=1, lr=1e-9)
    assert message(StandaloneConfig, init="xavier") == "unknown init 'xavier'; valid: he, pytorch"
    for bad, got in (({"epochs": 0}, "0, 128, 0.05"), ({"batch_size": 0}, "20, 0, 0.05"),
                     ({"lr": 0.0}, "20, 128, 0.0")):
        assert message(StandaloneConfig, **bad) == (
            f"standalone training needs epochs ≥ 1, batch_size ≥ 1 and lr > 0 (got {got})")
    expected = "(expected 'DAG(layers=L, edges=[(i, j), ...])')"
    for text in ("DAG(layers=3)", "Cell(layers=3, edges=[])", "DAG(layers=3, edges=[(0, 1, 2)])", "DAG("):
        assert message(parse_dag, text) == f"not a DAG architecture: {text!r} {expected}"
    long = "DAG(layers=3, edges=[" + ", ".join(["(0, 1)"] * 20) + ", (2, 1)])"
    assert message(parse_dag, long) == (
        f"{long[:80]!r} has an edge that does not go forward between vertices 0 and 2")
    assert message(parse_dag, "DAG(layers=3, edges=[(0, 3)])").endswith("between vertices 0 and 2")
    assert parse_dag("  DAG(layers=3, edges=[(0, 2)])\n") == DagArchitecture(3, ((0, 2),))


def test_the_supernets_edge_weights_are_centred_and_only_its_parameters_and_generator_are_saved():
    from nas.spaces.dense_dag import DenseDagConfig, DenseDagSupernet

    torch.manual_seed(0)
    net = DenseDagSupernet(DenseDagConfig(blocks=4, layers=4, width=128, edge_prob=0.5), 1, 10, 8)
    for w in (w.detach() for w in net.edge_weight):
        assert abs(float(w.mean())) < 4 * float(w.std()) / w.numel() ** 0.5     # zero-mean He init
    state = net.state_dict()
    assert "allowed" not in state                                # derived from the config, not saved
    assert set(state["_extra_state"]) == {"generator"}
    other = DenseDagSupernet(DenseDagConfig(blocks=4, layers=4, width=128, edge_prob=0.5, dag_seed=9),
                             1, 10, 8)
    other.load_state_dict(state)
    assert torch.equal(other.generator.get_state(), net.generator.get_state())


def test_the_dense_dag_discrete_alphas_select_the_block_with_the_largest_alpha():
    net = _net()
    with torch.no_grad():
        net.alpha.copy_(torch.tensor([0.1, -0.3, 0.7, 0.2, 0.0]))
    (a,) = net.discrete_alphas()
    assert torch.softmax(a, -1).tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]


def test_a_standalone_training_reports_its_accuracy_and_time_from_zero(tiny_digits, monkeypatch):
    import types

    import nas.training as training  # (the loop the standalone training runs in)
    from nas.spaces.dense_dag import DagArchitecture, StandaloneConfig, chain_dag, train_standalone

    clock = iter(range(10_000))                      # a clock that ticks 1 ms per reading
    cpu = iter(range(10_000))                        # and a CPU clock that ticks 2 ms
    monkeypatch.setattr(training, "time", types.SimpleNamespace(perf_counter=lambda: next(clock) / 1000,
                                                          process_time=lambda: next(cpu) / 500))
    saved = []
    out = train_standalone(DagArchitecture.from_mask(chain_dag(3)), tiny_digits, 8,
                           StandaloneConfig(epochs=2, batch_size=64), torch.device("cpu"),
                           on_checkpoint=saved.append)
    assert all(0 <= h["train_acc"] <= 1 for h in out["history"]) and 0 <= out["train_acc"] <= 1
    assert 0 < saved[0]["elapsed"] < saved[1]["elapsed"] <= out["train_time_s"] < 0.1
    assert [h["epoch_cpu_s"] for h in out["history"]] == [0.002, 0.002]   # each epoch's CPU time
