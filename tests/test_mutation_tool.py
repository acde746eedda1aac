"""mutation/run.py's bookkeeping: which tests pin which module, and how a score is counted."""

import importlib.util
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("mutation_run", ROOT / "mutation" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_module_in_scope_has_its_own_tests_and_they_exist():
    tool = _tool()
    modules = [tool.module_name(p) for p in tool.in_scope()]
    assert "nas.cli" not in modules and "resultstore.store" in modules and "analysis.stats" in modules
    for m in modules:
        if m == "nas":          # (nas/__init__.py: no functions, no mutants)
            continue
        assert tool.selection_of(m) != tool.EVERY_TEST, m
    for files in tool.test_selections().values():
        assert all((ROOT / f).is_file() for f in files), files
    assert tool.selection_of("nas.spaces.darts") == "nas.spaces"              # the longest prefix
    assert tool.selection_of("nas.spaces.dense_dag") == "nas.spaces.dense_dag"
    assert tool.selection_of("nas.strategiesx") == tool.EVERY_TEST              # whole names only


def test_a_score_counts_killed_over_mutants_less_equivalent_and_unrun():
    tool = _tool()
    statuses = {"m.a": "killed", "m.b": "timeout", "m.c": "survived", "m.d": "survived",
                "m.e": "no tests", "m.f": "not checked", "m.g": "segfault"}
    c, left = tool.count(statuses, {"m.d": "same result"})
    assert c == Counter({"mutants": 7, "killed": 3, "survived": 1, "equivalent": 1, "no tests": 1,
                         "not run": 1})
    assert left == ["m.c", "m.e"]
    assert tool.score_text(c) == "60%"                                          # 3 / (7 − 1 − 1)
    assert tool.score_text(Counter({"mutants": 1, "not run": 1})) == "—"


def test_a_sampled_score_carries_its_clopper_pearson_interval():
    from scipy.stats import binomtest

    tool = _tool()
    c = Counter({"mutants": 50, "killed": 40, "survived": 8, "equivalent": 2})
    ci = binomtest(40, 48).proportion_ci(0.95)
    assert tool.interval_text(c) == f"{100 * ci.low:.0f}–{100 * ci.high:.0f}%"
    assert tool.score_text(c) == "83%"
    assert tool.interval_text(Counter({"mutants": 2, "equivalent": 2})) == "—"


def test_a_sample_is_drawn_from_the_mutants_of_todays_source_and_repeats_with_its_seed():
    import pytest

    pytest.importorskip("mutmut")
    tool = _tool()
    names = tool.mutant_names("nas.genotype")
    assert len(names) > 100 and all(n.startswith("nas.genotype.x") for n in names)
    sample = tool.sample_of("nas.genotype", 20, 0)
    assert len(sample) == 20 and set(sample) <= set(names)
    assert tool.sample_of("nas.genotype", 20, 0) == sample != tool.sample_of("nas.genotype", 20, 1)
    assert len(tool.sample_of("nas.genotype", 10 ** 6, 0)) == len(names)   # all when fewer


def test_a_pooled_sample_is_one_draw_over_the_modules_split_by_module():
    import pytest

    pytest.importorskip("mutmut")
    tool = _tool()
    modules = ["nas.spaces", "nas.spaces.base", "nas.spaces.darts"]
    split = tool.pooled_sample(modules, 50, 0)
    assert sorted(split) == modules and sum(map(len, split.values())) == 50
    for m, names in split.items():
        assert set(names) <= set(tool.mutant_names(m))   # nas.spaces' own, not its submodules'
    assert tool.pooled_sample(modules, 50, 0) == split


def test_every_equivalent_claim_is_pinned_to_its_change():
    import json

    tool = _tool()
    pinned = json.loads(tool.PINNED.read_text())
    assert sorted(pinned) == sorted(tool.claimed())
    assert all(v["function"] and v["change"].startswith("-") and "\n+" in v["change"]
               for v in pinned.values())


def test_a_claim_counts_only_while_its_mutant_makes_the_pinned_change(tmp_path, monkeypatch):
    import json

    import pytest

    pytest.importorskip("mutmut")
    tool = _tool()
    name = "nas.genotype.x_derive_genotype__mutmut_6"
    other, third = "nas.genotype.x_derive_genotype__mutmut_17", "nas.genotype.x_parse_genotype__mutmut_1"
    change = tool.mutant_change(name)
    removed, added = change.split("\n")
    assert removed.startswith("-") and added.startswith("+") and removed[1:] != added[1:]
    assert tool.mutant_change("nas.genotype.x_derive_genotype__mutmut_99999") is None
    monkeypatch.setattr(tool, "claimed", lambda: {name: "why", other: "why", third: "why"})
    monkeypatch.setattr(tool, "PINNED", tmp_path / "pinned.json")
    tool.equivalent_reasons.cache_clear()
    tool.PINNED.write_text(json.dumps({
        name: {"function": tool.function_hash(name), "change": change},
        other: {"function": tool.function_hash(other), "change": "-old\n+new"},             # another change
        third: {"function": "0" * 12, "change": tool.mutant_change(third)}}))          # edited function
    assert tool.equivalent_reasons() == {name: "why"}
    tool.equivalent_reasons.cache_clear()


def test_every_equivalent_claim_still_makes_its_pinned_change_in_todays_source():
    import json

    import pytest

    pytest.importorskip("mutmut")
    tool = _tool()
    pinned = json.loads(tool.PINNED.read_text())
    stale = [n for n, p in pinned.items()
             if p != {"function": tool.function_hash(n), "change": tool.mutant_change(n)}]
    assert stale == [], "judge these claims again, then python mutation/run.py --pin-claims"
