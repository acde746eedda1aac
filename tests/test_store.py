"""The results store: what a table's key de-duplicates, that a crash never costs a part, the
schema of what is written, and which grid a results folder declares."""

import dataclasses
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from benchmark.codec import FormatError, manifest_matches
from benchmark.grids import get_grid
from nas.files import FileError
from resultstore import store as store_module
from resultstore.schema import KEYS, MARKING
from resultstore.store import ResultStore, read_results, write_parquet_atomic

ROOT = Path(__file__).resolve().parents[1]


def test_results_go_to_the_project_in_a_checkout_and_to_the_current_directory_when_installed(
        tmp_path, monkeypatch):
    store = store_module
    assert store.default_results_dir() == ROOT / "results"
    installed = tmp_path / "site-packages" / "benchmark"
    installed.mkdir(parents=True)
    monkeypatch.setattr(store, "__file__", str(installed / "store.py"))
    monkeypatch.chdir(tmp_path)
    assert store.default_results_dir() == tmp_path / "results"
    # a checkout elsewhere (a pyproject.toml beside the packages): its results/, whatever the cwd
    checkout = tmp_path / "checkout"
    (checkout / "benchmark").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("[project]\n")
    monkeypatch.setattr(store, "__file__", str(checkout / "benchmark" / "store.py"))
    assert store.default_results_dir() == checkout / "results"


def _row(strategy="first-order", seed=0, acc=0.5, **extra):
    return {"experiment": "e", "strategy": strategy, "search_dataset": "digits", "seed": seed,
            "profile": "smoke", "eval_dataset": "digits", "repeat": 0, "test_acc": acc, **extra}


def _age(path, seconds_ago):
    """Give a part an explicit age, so which part is 'the last written' does not rest on timing."""
    t = 1_700_000_000 - seconds_ago
    os.utime(path, (t, t))


def test_the_same_key_in_two_parts_keeps_the_newer_part_row_only(tmp_path):
    store = ResultStore(tmp_path)
    store.write_part("trials", "old-id", [_row(acc=0.1)])      # e.g. a part under a trial's old id
    store.write_part("trials", "new-id", [_row(acc=0.9)])
    store.write_part("trials", "other", [_row(seed=1, acc=0.3)])
    _age(store.part_path("trials", "new-id"), 10)
    _age(store.part_path("trials", "old-id"), 20)
    _age(store.part_path("trials", "other"), 30)
    df = store.read("trials")
    assert sorted(zip(df.seed, df.test_acc)) == [(0, 0.9), (1, 0.3)]
    _age(store.part_path("trials", "old-id"), 5)               # now the old id's part is newer
    df = store.read("trials")
    assert sorted(zip(df.seed, df.test_acc)) == [(0, 0.1), (1, 0.3)]
    assert list(df.index) == [0, 1]                            # a fresh index after dropping,
    assert list(df.columns) == list(_row())                    # and no column made of the old one


def test_rows_that_differ_in_any_key_column_are_all_kept(tmp_path):
    store = ResultStore(tmp_path)
    base = _row()
    rows = [base] + [{**base, k: (base[k] + 1 if isinstance(base[k], int) else base[k] + "x")}
                     for k in KEYS["trials"]]
    store.write_part("trials", "a", rows)
    df = store.read("trials")
    assert len(df) == len(KEYS["trials"]) + 1
    # ... and rows equal in every key column are one row, whatever their other columns say
    store.write_part("trials", "b", [{**base, "test_acc": 0.75, "note": "retry"}])
    _age(store.part_path("trials", "a"), 20)
    _age(store.part_path("trials", "b"), 10)
    df = store.read("trials")
    assert len(df) == len(KEYS["trials"]) + 1
    kept = df[(df.strategy == "first-order") & (df.seed == 0) & (df.repeat == 0)
              & (df.experiment == "e") & (df.profile == "smoke") & (df.eval_dataset == "digits")
              & (df.search_dataset == "digits")]
    assert kept.test_acc.tolist() == [0.75] and kept.note.tolist() == ["retry"]


def test_a_retry_replaces_its_part_and_collect_writes_what_read_returns(tmp_path):
    store = ResultStore(tmp_path)
    store.write_part("trials", "a", [_row(acc=0.1), _row(seed=1, acc=0.2)])
    store.write_part("trials", "a", [_row(acc=0.4)])           # the retry has one row only
    assert len(pq.read_table(store.part_path("trials", "a"))) == 1
    frames = store.collect()
    assert frames["trials"].test_acc.tolist() == [0.4]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "trials.parquet"), frames["trials"])
    assert not (tmp_path / "epochs.parquet").exists()          # no parts: no joined file
    assert list(frames["epochs"].columns) == KEYS["epochs"]
    # a joined file left without parts (its parts deleted for a rerun) is not brought back
    write_parquet_atomic([{**_row(), "phase": "eval", "epoch": 0}], tmp_path / "epochs.parquet")
    assert store.collect()["epochs"].empty


def test_a_crash_while_writing_keeps_the_old_part_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    store.write_part("trials", "a", [_row(acc=0.1)])
    before = store.part_path("trials", "a").read_bytes()

    def crashing_write(table, where, **kwargs):
        with open(where, "wb") as f:
            f.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(store_module.pq, "write_table", crashing_write)
    with pytest.raises(OSError, match="disk full"):
        store.write_part("trials", "a", [_row(acc=0.9)])
    assert store.part_path("trials", "a").read_bytes() == before
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["a.parquet"]
    assert store.read("trials").test_acc.tolist() == [0.1]


def test_every_key_of_any_row_is_a_column_and_missing_values_are_null(tmp_path):
    path = tmp_path / "t.parquet"
    write_parquet_atomic([{"a": 1, "b": 2.0}, {"a": 2, "c": "x"}], path)
    df = pd.read_parquet(path)
    assert list(df.columns) == ["a", "b", "c"]
    assert df.a.tolist() == [1, 2] and df.b.isna().tolist() == [False, True]
    assert df.c.isna().tolist() == [True, False] and df.c[1] == "x"
    write_parquet_atomic(pd.DataFrame({"z": [3]}, index=[7]), path)   # a frame: no index column
    assert pq.read_table(path).column_names == ["z"]


def test_a_part_is_written_only_with_its_key_and_only_when_it_has_rows(tmp_path):
    store = ResultStore(tmp_path)
    row = _row()
    del row["repeat"], row["seed"]
    with pytest.raises(ValueError, match=r"^rows of trials lack the key column\(s\) repeat, seed$"):
        store.write_part("trials", "a", [row])
    store.write_part("trials", "a", [])
    assert not store.has_part("trials", "a") and not (tmp_path / "parts").exists()
    with pytest.raises(ValueError, match="^unknown table 'trial'; tables are trials, epochs, "
                                         "alphas, ground_truth, fills, toy, fidelity, perf, cells$"):
        store.write_part("trial", "a", [_row()])
    store.write_part("trials", "a", [_row()])
    assert store.has_part("trials", "a") and not store.has_part("epochs", "a")


def test_reading_an_unknown_table_names_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="^unknown table 'trial'; tables are trials, epochs, "
                                         "alphas, ground_truth, fills, toy, fidelity, perf, cells$"):
        ResultStore(tmp_path).read("trial")


def test_a_trials_marking_part_is_written_after_its_other_tables(tmp_path, monkeypatch):
    order = []
    real = store_module.write_parquet_atomic
    monkeypatch.setattr(store_module, "write_parquet_atomic",
                        lambda rows, path: (order.append(path.parent.name), real(rows, path)))
    store = ResultStore(tmp_path)
    epoch = {**_row(), "phase": "eval", "epoch": 0}
    alpha = {**_row(), "epoch": 0, "cell": "normal", "edge": 0, "op": "skip"}
    store.write_parts("t", {"trials": [_row()], "epochs": [epoch], "alphas": [alpha]})
    assert order[-1] == "trials" and sorted(order[:-1]) == ["alphas", "epochs"]
    assert all(store.has_part(t, "t") for t in ("trials", "epochs", "alphas"))
    assert sorted(p.name for p in tmp_path.rglob("*.parquet")) == ["t.parquet"] * 3
    assert set(MARKING) == {"trials", "ground_truth", "fills"}


def test_a_tools_table_reads_its_compacted_file_first_and_its_parts_over_it(tmp_path):
    perf = {k: 0 for k in store_module.OTHER_KEYS["perf"]}
    write_parquet_atomic([{**perf, "step_s": 1.0}, {**perf, "batch": 64, "step_s": 3.0}],
                         tmp_path / "perf.parquet")
    ResultStore(tmp_path).write_part("perf", "run1", [{**perf, "step_s": 2.0}])
    _age(tmp_path / "parts" / "perf" / "run1.parquet", 1000)   # older than the joined file
    df = read_results(tmp_path, "perf")
    assert sorted(zip(df.batch, df.step_s)) == [(0, 2.0), (64, 3.0)]
    # a benchmark table never reads its joined file when it has parts (collect rewrites it)
    write_parquet_atomic([_row(acc=0.2)], tmp_path / "trials.parquet")
    ResultStore(tmp_path).write_part("trials", "x", [_row(seed=3)])
    assert read_results(tmp_path, "trials").seed.tolist() == [3]
    assert read_results(tmp_path / "perf.parquet", "trials").step_s.tolist() == [1.0, 3.0]
    assert read_results(tmp_path / "nothing", "trials").empty
    (tmp_path / "parts" / "trials" / "x.parquet").unlink()
    assert read_results(tmp_path, "trials").seed.tolist() == [0]   # no parts: the joined file


def test_an_unreadable_part_names_the_file_and_the_fix_that_fits_its_table(tmp_path):
    store = ResultStore(tmp_path)
    for table in ("trials", "epochs", "perf"):
        path = store.part_path(table, "p")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    with pytest.raises(FileError) as trials:
        store.read("trials")
    with pytest.raises(FileError) as epochs:
        store.read("epochs")
    with pytest.raises(FileError) as perf:
        store.read("perf")
    part = store.part_path("trials", "p")
    assert str(trials.value) == (
        f"{part} is not a readable parquet file (Parquet file size is 0 bytes); restore it from a "
        "copy, or delete it and run the same `benchmark/run.py` command again (its rows come back "
        "from the trial's last checkpoint, or the trial runs again)")
    assert str(epochs.value).endswith("delete it and parts/trials/p.parquet (or "
                                      "parts/ground_truth/p.parquet), then run the same "
                                      "`benchmark/run.py` command again")
    assert str(perf.value).endswith("(Parquet file size is 0 bytes); restore it from a copy")
    with pytest.raises(FileError, match="restore it from a copy$"):
        read_results(tmp_path / "parts" / "perf" / "p.parquet", "perf")
    part.write_bytes(b"not a parquet file, just text")              # not parquet at all
    with pytest.raises(FileError) as text:
        store.read("trials")
    assert str(text.value).startswith(f"{part} is not a readable parquet file (Parquet magic bytes "
                                      "not found in footer); restore it from a copy, or delete it")
    with pytest.raises(FileError, match=r"^\S*nothing.parquet does not exist$"):
        store_module.read_parquet(tmp_path / "nothing.parquet")
    # a table's name as the folder, but not under parts/: a file of some other tool
    loose = tmp_path / "trials" / "x.parquet"
    loose.parent.mkdir()
    loose.write_bytes(b"")
    with pytest.raises(FileError, match=r"\(Parquet file size is 0 bytes\); restore it from a copy$"):
        store_module.read_parquet(loose)


def test_the_reason_is_the_first_sentence_of_the_first_line(tmp_path, monkeypatch):
    import pyarrow as pa

    raised = {}

    def failing(path, **kwargs):
        raise pa.ArrowInvalid(raised["message"])

    monkeypatch.setattr(store_module.pd, "read_parquet", failing)
    for message, reason in (("Footer broken.\nDetails follow", "Footer broken"),
                            ("Bad file. More words. Even more", "Bad file"),
                            ("Truncated.", "Truncated"), (".leading dot kept", ".leading dot kept")):
        raised["message"] = message
        with pytest.raises(FileError) as e:
            store_module.read_parquet(tmp_path / "x.parquet")
        assert str(e.value) == f"{tmp_path / 'x.parquet'} is not a readable parquet file ({reason}); " \
                               "restore it from a copy"


def test_read_parquet_passes_its_options_on(tmp_path):
    write_parquet_atomic([{"a": 1, "b": 2}], tmp_path / "t.parquet")
    assert list(store_module.read_parquet(tmp_path / "t.parquet", columns=["b"]).columns) == ["b"]


def _manifest(tmp_path, grid, specs):
    from benchmark.run import write_manifest

    write_manifest(tmp_path, grid, specs)


def test_a_results_folder_matches_only_the_grid_it_declares(tmp_path):
    grid = get_grid("smoke")
    specs = grid.trials()
    assert manifest_matches(tmp_path, grid) is None                  # no grid.json yet
    _manifest(tmp_path, grid, specs)
    assert manifest_matches(tmp_path, grid, specs) is True
    assert manifest_matches(tmp_path, grid.override(search_epochs=7), specs) is False
    tuned = dataclasses.replace(grid, strategy_options={**grid.strategy_options,
                                                        "first-order": {"w_lr": 0.5}})
    assert manifest_matches(tmp_path, tuned) is False
    other = [dataclasses.replace(s, eval_datasets=("digits", "fashion-mnist")) for s in specs]
    assert manifest_matches(tmp_path, grid, other) is False         # the same trials, other evals
    # the codec's format: another is no match; none is the first (the key came with the codec)
    manifest = json.loads((tmp_path / "grid.json").read_text())
    assert manifest["format"] == 1
    (tmp_path / "grid.json").write_text(json.dumps({**manifest, "format": 2}))
    with pytest.raises(FormatError, match=r"grid.json is of format 2, written by another version of this "
                       r"project \(this one writes format 1\); give this run another --experiment$"):
        manifest_matches(tmp_path, grid, specs)
    del manifest["format"]
    (tmp_path / "grid.json").write_text(json.dumps(manifest))
    assert manifest_matches(tmp_path, grid, specs) is True
    # trials it does not list match whatever their evaluation datasets
    del manifest["trials"]
    (tmp_path / "grid.json").write_text(json.dumps(manifest))
    assert manifest_matches(tmp_path, grid, other) is True
    manifest["trials"] = []
    (tmp_path / "grid.json").write_text(json.dumps(manifest))
    assert manifest_matches(tmp_path, grid, other) is True
    (tmp_path / "grid.json").write_text(json.dumps(manifest)[:40])   # cut short: one sentence
    with pytest.raises(FileError, match=r"grid.json is not valid JSON \(line 1: .*\): it was cut short "
                       r"or edited; restore it from a copy \(the rows in parts/ are intact\), or give "
                       r"this run another --experiment$"):
        manifest_matches(tmp_path, grid)
    manifest["profile"] = {"no_such_field": 1}                       # unreadable: no match
    (tmp_path / "grid.json").write_text(json.dumps(manifest))
    assert manifest_matches(tmp_path, grid) is False


def test_compacting_folds_the_parts_into_one_file_and_keeps_what_read_returns(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    perf = {k: 0 for k in store_module.OTHER_KEYS["perf"]}
    for i in range(4):
        store.write_part("perf", f"run{i}", [{**perf, "batch": i, "step_s": float(i)}])
    store.write_part("perf", "again", [{**perf, "batch": 1, "step_s": 9.0}])   # newer: it wins
    before = store.read("perf").sort_values("batch").reset_index(drop=True)
    assert store.compact("perf") == 5
    assert list((tmp_path / "parts" / "perf").glob("*.parquet")) == []
    after = store.read("perf").sort_values("batch").reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    assert after.step_s.tolist() == [0.0, 9.0, 2.0, 3.0]
    # a part written after the compaction is read over the joined file
    store.write_part("perf", "later", [{**perf, "batch": 2, "step_s": 7.0}])
    assert store.read("perf").set_index("batch").step_s.to_dict() == {0: 0.0, 1: 9.0, 2: 7.0, 3: 3.0}
    assert store.compact("perf") == 1 and store.compact("perf") == 0
    with pytest.raises(ValueError, match="only .* can be compacted"):
        store.compact("trials")

    # a part rewritten while the compaction reads stays, and still wins
    store.write_part("perf", "busy", [{**perf, "batch": 5, "step_s": 1.0}])
    real_join = ResultStore._join

    def join_then_rewrite(self, table, listed):
        out = real_join(self, table, listed)
        store.write_part("perf", "busy", [{**perf, "batch": 5, "step_s": 2.0}])
        _age(tmp_path / "parts" / "perf" / "busy.parquet", 0)   # (surely another modification time)
        return out

    monkeypatch.setattr(ResultStore, "_join", join_then_rewrite)
    assert store.compact("perf") == 0
    monkeypatch.setattr(ResultStore, "_join", real_join)
    assert (tmp_path / "parts" / "perf" / "busy.parquet").is_file()
    assert store.read("perf").set_index("batch").step_s[5] == 2.0


def test_two_compactions_of_one_folder_take_turns(tmp_path):
    """Two grids that share a table compact it when they start: the second waits for the first
    (it would otherwise read parts the first deletes, or write a joined file without them)."""
    import threading

    store = ResultStore(tmp_path)
    perf = {k: 0 for k in store_module.OTHER_KEYS["perf"]}
    for i in range(3):
        store.write_part("perf", f"run{i}", [{**perf, "batch": i, "step_s": float(i)}])
    folded = []
    with store_module.exclusive(tmp_path / ".compact.lock"):   # the other grid's compaction
        other = threading.Thread(target=lambda: folded.append(store.compact("perf")))
        other.start()
        other.join(0.5)
        assert other.is_alive() and len(list((tmp_path / "parts" / "perf").glob("*"))) == 3
    other.join(10)
    assert folded == [3] and store.read("perf").step_s.tolist() == [0.0, 1.0, 2.0]


def test_a_reader_that_finds_a_part_gone_reads_again(tmp_path, monkeypatch):
    """A compaction in another process can delete a part between a reader's listing and its
    read; the reader lists again (the joined file then holds the part's rows)."""
    store = ResultStore(tmp_path)
    perf = {k: 0 for k in store_module.OTHER_KEYS["perf"]}
    store.write_part("perf", "a", [{**perf, "batch": 1, "step_s": 1.0}])
    real_listing, calls = ResultStore._listing, []

    def listing_then_compact(self, table):
        listed = real_listing(self, table)
        if self is store:
            calls.append(len(listed))
            if len(calls) == 1:
                ResultStore(tmp_path).compact("perf")   # (the other process)
        return listed

    monkeypatch.setattr(ResultStore, "_listing", listing_then_compact)
    assert store.read("perf").step_s.tolist() == [1.0]
    assert len(calls) == 2
    # a part that is unreadable but present is an error at once, not a retry
    (tmp_path / "parts" / "perf" / "bad.parquet").write_text("not parquet")
    calls.clear()
    with pytest.raises(FileError, match="bad.parquet"):
        store.read("perf")
    assert len(calls) == 1
