import json

import pytest

from benchmark import perf


def test_perf_prints_json_lines_and_writes_one_part_per_run(tmp_path, capsys):
    from resultstore.store import ResultStore

    out = tmp_path / "perf"
    args = ["--strategies", "implicit-cg", "--hvp", "finite-difference", "--batch", "2",
            "--layers", "3", "--channels", "2", "--image-size", "8", "--steps", "1",
            "--warmup", "0", "--eval", "--json", "--out", str(out)]
    assert perf.main(args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    search, plain, trainer = rows
    assert search["strategy"] == "implicit-cg" and search["hvp"] == "finite-difference"
    # 5 + K with K = 5 one-pass products, + the spectrum rule's 20 Lanczos products every 32 steps
    assert search["expected_passes"] == 5 + 5 + 20 / 32
    assert search["step_s"] > 0 and search["pass_s"] > 0 and search["peak_mem_bytes"] > 0
    assert search["saved_bytes"] > 0
    assert search["step_min_s"] == search["step_s"] == search["step_max_s"]   # one timed step
    assert search["overhead"] == search["step_s"] / (search["pass_s"] * search["expected_passes"])
    assert {"device", "torch", "python"} <= set(search)
    assert plain["strategy"] == "eval-plain-loop" and trainer["strategy"] == "eval-trainer"
    assert trainer["images_per_s"] == trainer["batch"] / trainer["step_s"]
    assert len(ResultStore(out).read("perf")) == 3
    again = [*args[:2], "--batch", "2", "--layers", "3", "--channels", "2", "--image-size", "8",
             "--steps", "1", "--warmup", "0", "--json", "--out", str(out)]
    assert perf.main(again) == 0
    assert len(ResultStore(out).read("perf")) == 4          # a second part, nothing overwritten
    assert len(list((out / "parts" / "perf").glob("*.parquet"))) == 2


def test_perf_times_each_step_after_the_warm_up_and_reports_their_range():
    import torch

    calls = []
    times = perf._times(lambda: calls.append(1), steps=3, warmup=2, dev=torch.device("cpu"))
    assert len(calls) == 5 and len(times) == 3
    assert perf._step_times([3.0, 1.0, 2.5]) == {"step_s": 2.5, "step_min_s": 1.0, "step_max_s": 3.0}
    row = {"kind": "eval", "strategy": "eval-trainer", "batch": 8, "layers": 5, "channels": 8,
           "step_s": 2.5, "step_min_s": 1.0, "step_max_s": 3.0, "images_per_s": 3.2,
           "peak_mem_bytes": 2**20, "speed": "", "steps": 3}
    assert perf._format(row).endswith("(3: 1.000–3.000 s)")
    assert "–" not in perf._format({**row, "steps": 1})


def test_saved_bytes_counts_each_kept_storage_once():
    """4 float64 values = 32 bytes: x * y keeps x and y; sin keeps x again (counted once) and a
    view of y (counted once); exp keeps its output, a new storage; a forward under no_grad keeps
    nothing."""
    import torch

    x = torch.zeros(4, dtype=torch.double, requires_grad=True)
    y = torch.zeros(4, dtype=torch.double, requires_grad=True)
    assert perf.saved_bytes(lambda: x * y) == 64
    assert perf.saved_bytes(lambda: (x * y, x.sin(), y[1:].sin())) == 64
    assert perf.saved_bytes(lambda: (x * y, x.exp())) == 96
    with torch.no_grad():
        assert perf.saved_bytes(lambda: x * y) == 0


def test_perf_rejects_an_unknown_strategy_or_switch(capsys):
    assert perf.main(["--strategies", "third-order", "--out", ""]) == 2
    assert "unknown strategy 'third-order'" in capsys.readouterr().err
    assert perf.main(["--speed", "turbo", "--out", ""]) == 2
    assert "unknown speed option 'turbo'" in capsys.readouterr().err


def test_perf_measures_a_supernet_without_a_normal_cell_and_a_failed_measurement_is_one_sentence(
        capsys, monkeypatch):
    """--layers 2: both cells reduce, α_normal is unused and the pass's gradient allows that; a
    measurement that fails in its process ends the run in one sentence naming it (status 1)."""
    monkeypatch.setattr(perf, "run_isolated", lambda fn, **kw: fn(**kw))   # in this process
    args = ["--strategies", "first-order", "--batch", "2", "--layers", "2", "--channels", "2",
            "--image-size", "8", "--steps", "1", "--warmup", "0", "--json", "--out", ""]
    assert perf.main(args) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["layers"] == 2 and row["pass_s"] > 0
    monkeypatch.undo()
    with pytest.raises(perf.MeasureError) as e:
        perf.run_isolated(json.loads, s="{", strategy="first-order")   # (loads has no `strategy`)
    assert str(e.value).startswith("measuring loads (strategy first-order) failed: TypeError: ")


def test_perf_times_the_plain_cell_beside_the_batched_one(capsys, monkeypatch):
    """--cell both: one row per cell, plain first, each measured with that cell switched on (the
    measuring process records which cell its supernet ran)."""
    from nas.spaces import darts_batched

    args = ["--strategies", "first-order", "--batch", "2", "--layers", "3", "--channels", "2",
            "--image-size", "8", "--steps", "1", "--warmup", "0", "--json", "--out", "",
            "--cell", "both"]
    assert perf.main(args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["cell"] for r in rows] == ["plain", "batched"]
    assert all(r["strategy"] == "first-order" and r["step_s"] > 0 for r in rows)
    seen = []
    from nas.spaces.darts import SearchCell

    monkeypatch.setattr(SearchCell, "batched", True)   # restored after: measure() sets them
    monkeypatch.setattr(SearchCell, "recompute", "separable")
    monkeypatch.setattr(perf, "run_isolated", lambda fn, **kw: fn(**kw))   # in this process
    real = darts_batched.cell_forward
    monkeypatch.setattr("nas.spaces.darts.cell_forward",
                        lambda *a, **k: seen.append(1) or real(*a, **k))
    assert perf.main([*args[:-1], "plain"]) == 0
    assert seen == []
    capsys.readouterr()
    assert perf.main([*args[:-1], "batched-keep"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["cell"] == "batched-keep" and seen and SearchCell.recompute == "none"
    assert perf.main([*args[:-1], "batched-keep", "batched-all"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["cell"] for r in rows] == ["batched-keep", "batched-all"]
    assert SearchCell.recompute == "all"      # the last row's setting
    assert perf.main([*args[:-1], "batched"]) == 0
    assert seen
