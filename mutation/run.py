"""Mutation testing of the library, module by module, and its summary.

    pip install -e ".[mutation]"
    python mutation/run.py nas/genotype.py                # one module (minutes)
    python mutation/run.py nas/strategies resultstore/store.py
    python mutation/run.py --all                          # every module in scope (hours)
    python mutation/run.py --survivors nas/genotype.py    # after new tests: rerun its survivors
    python mutation/run.py resultstore/store.py --tests-at v1 --record before   # older tests
    python mutation/run.py analysis/stats.py --sample 150 --record after   # a sample's score
    python mutation/run.py --summary                      # only rewrite mutation/results.md

mutmut (configured in pyproject.toml, [tool.mutmut]) plants one small change at a time in a
function (an operator, a constant, a condition, a removed call) and runs the tests that call
that function, fastest first, until one fails: the mutant is killed. One that no test notices
survives; it is either a gap in the tests or equivalent (it computes the same thing), which
mutation/equivalent.toml records with the reason.

Each module is tested against the tests that pin it (mutation/tests.toml), in a copy of the
project of its own, mutation/work/<selection>/ (git ignores it): the modules that share a test
selection share a copy, whose mutants/ keeps mutmut's state (its map of which test calls which
function, made by running the selection once, and every mutant's result). `--tests-at REV` puts
the tests of another commit into the copy (mutation/work/<selection>@REV/), for a "before" score.

The summary, mutation/results.md, gives per module: mutants, killed (a test failed or timed
out), survived, equivalent, no tests, and the score = killed / (mutants - equivalent - not run);
`--record LABEL` appends the named modules' scores to mutation/history.md.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from fnmatch import fnmatch
from pathlib import Path

try:
    import tomllib
except ImportError:   # Python 3.10
    raise SystemExit("error: mutation/run.py needs Python 3.11 or later (tomllib)") from None

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "mutation" / "equivalent.toml"
# Each claim's change (the lines the mutant removes and adds) when it was judged: a claim whose
# mutant now makes another change (its function was edited, so mutmut renumbered) is not honoured.
PINNED = ROOT / "mutation" / "equivalent-changes.json"
RESULTS = ROOT / "mutation" / "results.md"
HISTORY = ROOT / "mutation" / "history.md"
TESTS = ROOT / "mutation" / "tests.toml"
WORK = ROOT / "mutation" / "work"
EVERY_TEST = "_every_test"     # the work copy of the modules without an entry in tests.toml


def mutmut_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]


def in_scope() -> list[Path]:
    """The source files that [tool.mutmut] only_mutate names (do_not_mutate left out)."""
    config = mutmut_config()
    files = [p.relative_to(ROOT) for src in config["source_paths"] for p in (ROOT / src).rglob("*.py")]
    return sorted(p for p in files if any(fnmatch(str(p), g) for g in config["only_mutate"])
                  and not any(fnmatch(str(p), g) for g in config.get("do_not_mutate", []))
                  and "def " in (ROOT / p).read_text())   # (a file without functions has no mutants)


def module_name(path: Path) -> str:
    parts = list(path.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_for(target: str) -> list[str]:
    """The modules in scope of a file or a folder of files."""
    path = Path(target)
    files = [p for p in in_scope() if p == path or path in p.parents]
    if not files:
        raise SystemExit(f"error: {target} names no module that [tool.mutmut] only_mutate covers; "
                         f"those are under {', '.join(sorted({str(p.parts[0]) for p in in_scope()}))}")
    return [module_name(p) for p in files]


def test_selections() -> dict[str, list[str]]:
    return tomllib.loads(TESTS.read_text())["tests"] if TESTS.is_file() else {}


def selection_of(module: str) -> str:
    """The tests.toml entry whose tests pin `module` (the longest matching prefix), or EVERY_TEST."""
    keys = [k for k in test_selections() if module == k or module.startswith(k + ".")]
    return max(keys, key=len) if keys else EVERY_TEST


def workdir(selection: str, rev: str | None = None) -> Path:
    return WORK / (f"{selection}@{rev}" if rev else selection)


def glob_of(module: str) -> str:
    """mutmut's mutant-name glob of a module: `<module>.x*` (its functions `x_name` and methods
    `xǁClassǁname`, not a submodule's)."""
    return f"{module}.x*"


def prepare(selection: str, rev: str | None) -> Path:
    """Bring the work copy up to date with the checkout (its tests from `rev` if given), with
    [tool.mutmut]'s test selection narrowed to the selection's files."""
    work = workdir(selection, rev)
    work.mkdir(parents=True, exist_ok=True)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.splitlines()
    top = {Path(f).parts[0] for f in listed}
    for name in top - {"mutants"}:   # (files removed from these folders must not linger in the copy)
        shutil.rmtree(work / name, ignore_errors=True) if (work / name).is_dir() else None
    for f in listed:   # (mutation/ too: tests/test_mutation_tool.py reads mutation/run.py)
        if not (ROOT / f).is_file():
            continue
        (work / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, work / f)
    if rev:
        shutil.rmtree(work / "tests")
        archive = subprocess.run(["git", "archive", rev, "tests"], cwd=ROOT, capture_output=True)
        if archive.returncode != 0:
            raise SystemExit(f"error: --tests-at {rev}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", str(work)], input=archive.stdout, check=True)
    if selection != EVERY_TEST:
        files = test_selections()[selection]
        missing = [f for f in files if not (work / f).is_file()]
        if missing and rev:   # files written since: the older tests had none
            print(f"(the tests at {rev} have no {', '.join(missing)})")
            files = [f for f in files if f not in missing]
        if not files:
            raise SystemExit(f"error: the tests at {rev} have none of the files that "
                             f"mutation/tests.toml names for {selection}")
        elif missing:
            raise SystemExit(f"error: mutation/tests.toml names {', '.join(missing)} for {selection}, "
                             "which the tests there lack")
        text = (work / "pyproject.toml").read_text()
        new = ("pytest_add_cli_args_test_selection = " +
               json.dumps([*files, "-m", "not slow and not cuda", "-p", "no:cacheprovider"]) + "\n")
        text, n = re.subn(r"^pytest_add_cli_args_test_selection = \[.*?\]\n", new, text,
                          flags=re.S | re.M)
        if n != 1 or tomllib.loads(text)["tool"]["mutmut"].get(
                "pytest_add_cli_args_test_selection", [None])[0] != files[0]:
            raise SystemExit("error: could not narrow pyproject.toml's [tool.mutmut] "
                             "pytest_add_cli_args_test_selection (keep it a list ending in `]` and a "
                             "new line)")
        (work / "pyproject.toml").write_text(text)
    return work


def status_of(code) -> str:
    from mutmut.__main__ import status_by_exit_code  # (mutmut 3.8: exit code -> status)

    return status_by_exit_code[code]


def collect(work: Path) -> dict[str, dict[str, str]]:
    """{module: {mutant: status}} from a work copy's mutants/**/*.py.meta."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        rel = meta.relative_to(work / "mutants").with_suffix("")
        data = json.loads(meta.read_text())
        for key, code in data.get("exit_code_by_key", {}).items():
            out[module_name(rel)][key] = status_of(code)
    return out


def statuses_of(module: str, rev: str | None = None, sample: list[str] | None = None) -> dict[str, str]:
    work = workdir(selection_of(module), rev)
    found = collect(work).get(module, {}) if work.is_dir() else {}
    return found if sample is None else {k: found.get(k, "not checked") for k in sample}


@functools.cache
def _mutated(module: str) -> tuple[list[str], str]:
    """(every mutant's name, mutmut's mutated copy of the module) generated from the checkout's
    source as mutmut generates them (mutmut 3.8's generator), not read from a work copy."""
    import io

    from mutmut.__main__ import write_all_mutants_to_file
    from mutmut.mutation.file_mutation import get_mutant_name

    path = Path(*module.split(".")).with_suffix(".py")
    if not (ROOT / path).is_file():
        path = path.with_suffix("") / "__init__.py"
    out = io.StringIO()
    mutated = write_all_mutants_to_file(out=out, source=(ROOT / path).read_text(), filename=path)
    return sorted(get_mutant_name(path, name) for name in mutated.mutant_names), out.getvalue()


def mutant_names(module: str) -> list[str]:
    """Every mutant of `module` today (a sample drawn from them names today's mutants, even where a
    work copy holds an older source)."""
    return _mutated(module)[0]


def sample_of(module: str, size: int, seed: int) -> list[str]:
    """A uniform random sample of `size` of the module's mutants (all of them if fewer)."""
    import random

    names = mutant_names(module)
    return sorted(random.Random(f"{module}/{seed}").sample(names, min(size, len(names))))


def pooled_sample(modules: list[str], size: int, seed: int) -> dict[str, list[str]]:
    """One uniform random sample of `size` of all the modules' mutants together (all if fewer),
    split by module: {module: its sampled mutants}."""
    import random

    names = sorted(n for m in modules for n in mutant_names(m))
    key = "+".join(sorted(modules))
    drawn = random.Random(f"{key}/{seed}").sample(names, min(size, len(names)))
    return {m: sorted(n for n in drawn if n.rsplit(".", 1)[0] == m) for m in modules}


def interval_text(c: Counter) -> str:
    """Clopper–Pearson 95% interval of the score (for a sample of the mutants)."""
    from scipy.stats import binomtest

    run = c["mutants"] - c["equivalent"] - c["not run"]
    if not run:
        return "—"
    ci = binomtest(c["killed"], run).proportion_ci(0.95)
    return f"{100 * ci.low:.0f}–{100 * ci.high:.0f}%"


def claimed() -> dict[str, str]:
    """{mutant name: reason} as mutation/equivalent.toml states them, whatever tables group them."""
    def leaves(d: dict) -> dict[str, str]:
        out = {}
        for k, v in d.items():
            out.update(leaves(v) if isinstance(v, dict) else {k: v})
        return out

    return leaves(tomllib.loads(EQUIVALENT.read_text())) if EQUIVALENT.is_file() else {}


@functools.cache
def _generated_functions(module: str) -> dict[str, str]:
    """{generated function name: its source} of mutmut's mutated copy of `module`'s source today."""
    import ast

    code = _mutated(module)[1]
    lines = code.splitlines()
    return {node.name: "\n".join(lines[node.lineno - 1:node.end_lineno])
            for node in ast.walk(ast.parse(code))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def function_hash(name: str) -> str | None:
    """A short hash of the whole source of the function that mutant `name` mutates, today."""
    import hashlib

    module, func = name.rsplit(".", 1)
    source = _generated_functions(module).get(re.sub(r"__mutmut_\d+$", "__mutmut_orig", func))
    return None if source is None else hashlib.sha1(source.encode()).hexdigest()[:12]


def mutant_change(name: str) -> str | None:
    """The lines mutant `name` removes (-) and adds (+) in today's source; None if it is gone."""
    import difflib

    module, func = name.rsplit(".", 1)
    orig = re.sub(r"__mutmut_\d+$", "__mutmut_orig", func)
    functions = _generated_functions(module)
    if func not in functions or orig not in functions:
        return None
    a = functions[orig].splitlines()
    b = functions[func].replace(func, orig, 1).splitlines()
    return "\n".join(line for line in difflib.unified_diff(a, b, lineterm="", n=0)
                     if line[:1] in "+-" and line[:3] not in ("+++", "---"))


def pin_claims() -> dict[str, str]:
    """Write every claim's change today to mutation/equivalent-changes.json (after judging them)."""
    pinned = {name: {"function": function_hash(name), "change": mutant_change(name)}
              for name in sorted(claimed())}
    PINNED.write_text(json.dumps(pinned, indent=1, ensure_ascii=False) + "\n")
    equivalent_reasons.cache_clear()
    return pinned


@functools.cache
def equivalent_reasons() -> dict[str, str]:
    """{mutant name: reason} of the claims in mutation/equivalent.toml whose mutant still makes
    the change pinned in mutation/equivalent-changes.json; the others are warned of and left out
    (they count as survivors until judged again and pinned with --pin-claims)."""
    pinned = json.loads(PINNED.read_text()) if PINNED.is_file() else {}
    honoured = {}
    for name, reason in claimed().items():
        now = {"function": function_hash(name), "change": mutant_change(name)}
        if name not in pinned:
            print(f"warning: the equivalent claim {name} is not pinned yet: check it with `mutmut "
                  "show` and run `python mutation/run.py --pin-claims`", file=sys.stderr)
        elif now != pinned[name] or now["change"] is None:
            what = ("is gone" if now["change"] is None else "makes another change"
                    if now["change"] != pinned[name]["change"] else "is in a function edited since")
            print(f"warning: the equivalent claim {name} may no longer hold for today's source (its "
                  f"mutant {what}): judge it again, then --pin-claims", file=sys.stderr)
        else:
            honoured[name] = reason
    return honoured


def count(statuses: dict[str, str], reasons: dict[str, str]) -> tuple[Counter, list[str]]:
    """A module's counts (mutants, killed, survived, equivalent, no tests, not run) and its
    survivors without a recorded reason (no-tests ones included)."""
    c, survivors = Counter(), []
    for key, status in statuses.items():
        if status in ("killed", "timeout", "segfault", "caught by type check"):
            c["killed"] += 1
        elif status == "survived":
            if key in reasons:
                c["equivalent"] += 1
            else:
                c["survived"] += 1
                survivors.append(key)
        elif status == "no tests":
            c["no tests"] += 1
            survivors.append(key)
        else:
            c["not run"] += 1
    c["mutants"] = len(statuses)
    return c, survivors


def score_text(c: Counter) -> str:
    run = c["mutants"] - c["equivalent"] - c["not run"]
    return f"{100 * c['killed'] / run:.0f}%" if run else "—"


def _row(name: str, c: Counter, selection: str = "") -> str:
    return (f"| {name} | {c['mutants']} | {c['killed']} | {c['survived']} | {c['equivalent']} | "
            f"{c['no tests']} | {c['not run']} | {score_text(c)} | {selection} |")


def summarise(scope: list[Path]) -> str:
    reasons = equivalent_reasons()
    lines = ["# Mutation testing: results", "",
             "Written by `python mutation/run.py` (mutmut 3.8.1) from mutation/work/; see "
             "mutation/README.md. killed: a test failed, crashed or timed out; equivalent: "
             "survived, and mutation/equivalent.toml says why it computes the same; not run: not "
             "checked yet, interrupted or suspicious (an exit code mutmut does not expect); score "
             "= killed / (mutants − equivalent − not run); tests: the mutation/tests.toml entry "
             "whose files were run. Modules not run yet are not listed. The scores over time are "
             "in mutation/history.md.", "",
             "| module | mutants | killed | survived | equivalent | no tests | not run | score | tests |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    survivors: list[str] = []
    total: Counter = Counter()
    for path in scope:
        mod = module_name(path)
        statuses = statuses_of(mod)
        if not statuses:
            continue
        c, left = count(statuses, reasons)
        survivors += left
        total.update(c)
        lines.append(_row(mod, c, selection_of(mod)))
    lines.append(_row("**all run**", total))
    lines += ["", f"Survivors without a recorded reason ({len(survivors)}; `mutmut show NAME`, run "
              "in the module's mutation/work/ copy, prints the change):", ""]
    lines += [f"- `{k}`" for k in survivors] or ["- none"]
    if reasons:
        lines += ["", "Equivalent (from mutation/equivalent.toml):", ""]
        lines += [f"- `{k}`: {v}" for k, v in sorted(reasons.items())]
    return "\n".join(lines) + "\n"


def record(label: str, modules: list[str], rev: str | None, seconds: dict[str, float],
           samples: dict[str, list[str]] | None = None, pooled: bool = False,
           tests_commit: str = "?") -> None:
    """Append the modules' scores now to mutation/history.md (the before/after log): a row per
    module, or with `pooled` a row per test selection over its modules' pooled sample."""
    reasons = equivalent_reasons()
    commit = rev or tests_commit
    if not HISTORY.is_file():
        HISTORY.write_text(
            "# Mutation scores over time\n\nAppended by `python mutation/run.py ... --record LABEL`: "
            "each named module's score after the run, over all its mutants or over a random "
            "sample of them (`--sample N`, then with a Clopper–Pearson 95% interval), the commit "
            "whose tests ran (`--tests-at`, else the checkout's HEAD plus any uncommitted tests), "
            "its test selection (mutation/tests.toml) and the wall time of the run of that "
            "selection (2 cores; — where the scores are of an earlier run).\n\n| date | label | "
            "tests of | module | mutants | killed | survived | equivalent | not run | score | "
            "95% CI | tests | run wall time |\n"
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
    today = datetime.date.today().isoformat()
    rows = []
    if pooled:   # one row per selection: its modules' sampled mutants together
        by_selection: dict[str, list[str]] = defaultdict(list)
        for mod in modules:
            by_selection[selection_of(mod)].append(mod)
        for sel, mods in by_selection.items():
            c = Counter()
            for mod in mods:
                c.update(count(statuses_of(mod, rev, samples[mod]), reasons)[0])
            total = sum(len(mutant_names(m)) for m in mods)
            name = mods[0] if len(mods) == 1 else f"{sel}.* ({len(mods)} modules, pooled)"
            wall = f"{seconds[sel] / 60:.1f} min" if sel in seconds else "—"
            rows.append(f"| {today} | {label} | {commit} | {name} | {c['mutants']} of {total} | "
                        f"{c['killed']} | {c['survived'] + c['no tests']} | {c['equivalent']} | "
                        f"{c['not run']} | {score_text(c)} | {interval_text(c)} | {sel} | {wall} |")
        modules = []
    for mod in modules:
        sel = selection_of(mod)
        sample = (samples or {}).get(mod)
        c, _ = count(statuses_of(mod, rev, sample), reasons)
        wall = f"{seconds[sel] / 60:.1f} min" if sel in seconds else "—"
        size = f"{c['mutants']} of {len(mutant_names(mod))}" if sample else str(c["mutants"])
        if c["not run"]:
            print(f"warning: {mod}: {c['not run']} mutant(s) not run (interrupted or suspicious); "
                  "its score leaves them out, and mutmut runs the fastest first: rerun the module",
                  file=sys.stderr)
        rows.append(f"| {today} | {label} | {commit} | {mod} | {size} | {c['killed']} | "
                    f"{c['survived'] + c['no tests']} | {c['equivalent']} | {c['not run']} | "
                    f"{score_text(c)} | {interval_text(c) if sample else '—'} | {sel} | {wall} |")
    with HISTORY.open("a") as f:
        f.write("\n".join(rows) + "\n")


def checkout_tests() -> str:
    """The commit whose code and tests a run copies now: HEAD, with "+" if the copied source, tests
    or configuration have uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    copied = ["nas", "resultstore", "benchmark", "analysis", "studies", "tests", "pyproject.toml",
              "mutation/tests.toml"]
    return head + ("+" if git("status", "--porcelain", "--", *copied) else "")


def run_selection(selection: str, modules: list[str], rev: str | None, survivors: bool,
                  max_children: int, samples: dict[str, list[str]] | None = None) -> tuple[int, float]:
    """mutmut on `modules` (or their survivors, or the sampled mutants) in the selection's work
    copy; (exit code, seconds)."""
    start = time.perf_counter()
    work = prepare(selection, rev)
    names = [n for m in modules for n in samples[m]] if samples else [glob_of(m) for m in modules]
    if survivors:
        reasons = equivalent_reasons()
        names = [k for m in modules for k in count(statuses_of(m, rev, (samples or {}).get(m)),
                                                   reasons)[1]]
        if not names:
            print(f"{selection}: no survivors to rerun")
            return 0, time.perf_counter() - start
    tests = "every selected test" if selection == EVERY_TEST else f"the tests of {selection}"
    what = "survivor(s)" if survivors else "sampled mutant(s)" if samples else "module(s)"
    print(f"== {len(names)} {what} against {tests}"
          f"{f' at {rev}' if rev else ''} in {work.relative_to(ROOT)}", flush=True)
    done = subprocess.run(["mutmut", "run", "--max-children", str(max_children), *names], cwd=work)
    seconds = time.perf_counter() - start
    print(f"== {selection}: mutmut exit {done.returncode} after {seconds:.0f} s", flush=True)
    return done.returncode, seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python mutation/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("targets", nargs="*", help="source files or folders, e.g. nas/genotype.py nas/strategies")
    p.add_argument("--all", action="store_true", help="every module in scope")
    p.add_argument("--max-children", type=int, default=2,
                   help="mutants tested at once (default: 2, this machine's cores)")
    p.add_argument("--summary", action="store_true", help="only rewrite mutation/results.md")
    p.add_argument("--survivors", action="store_true",
                   help="rerun only the named modules' survivors (after new tests: the mutants "
                        "killed before stay killed, as tests were only added)")
    p.add_argument("--tests-at", metavar="REV",
                   help="run against the tests of this git revision (a 'before' score; its own "
                        "work copy, and results.md is not rewritten)")
    p.add_argument("--sample", type=int, metavar="N",
                   help="run a uniform random sample of N mutants per module (the same N for the "
                        "same --sample-seed, so a before and an after run test the same mutants); "
                        "the score then gets a 95%% interval")
    p.add_argument("--pooled", action="store_true",
                   help="with --sample: draw the N mutants from all the named modules of a test "
                        "selection together (e.g. the N of nas/strategies' 14 modules), and record "
                        "one score per selection")
    p.add_argument("--sample-seed", type=int, default=0, help="the sample's seed (default: 0)")
    p.add_argument("--pin-claims", action="store_true",
                   help="record each equivalent claim's change (mutation/equivalent-changes.json) "
                        "after judging the claims: a claim whose mutant later changes is ignored")
    p.add_argument("--record", metavar="LABEL",
                   help="append the named modules' scores after the run to mutation/history.md")
    args = p.parse_args(argv)
    scope = in_scope()
    if args.pin_claims:
        pinned = pin_claims()
        gone = [k for k, v in pinned.items() if v["change"] is None]
        print(f"pinned {len(pinned)} claim(s) in {PINNED.relative_to(ROOT)}"
              + (f"; {len(gone)} name no mutant of today's source: {', '.join(gone)}" if gone else ""))
        if not args.targets and not args.all and not args.summary:
            return 1 if gone else 0
    if not args.targets and not args.all and not args.summary:
        p.error("name modules or folders to mutate, or --all, --summary or --pin-claims")
    modules = [module_name(s) for s in scope] if args.all else \
        [m for t in args.targets for m in modules_for(t)]
    by_selection: dict[str, list[str]] = defaultdict(list)
    for m in modules:
        by_selection[selection_of(m)].append(m)
    seconds: dict[str, float] = {}
    failed = False
    tests_commit = checkout_tests()   # (now: the work copies take the tests as they are at the start)
    if args.pooled and not args.sample:
        p.error("--pooled needs --sample N")
    samples = None
    if args.pooled:
        samples = {}
        for mods in by_selection.values():
            samples.update(pooled_sample(mods, args.sample, args.sample_seed))
    elif args.sample:
        samples = {m: sample_of(m, args.sample, args.sample_seed) for m in modules}
    if not args.summary:
        for selection, mods in by_selection.items():
            code, seconds[selection] = run_selection(selection, mods, args.tests_at, args.survivors,
                                                     args.max_children, samples)
            if code != 0:
                print(f"error: mutmut failed on {selection} (exit {code})", file=sys.stderr)
                failed = True
    if args.record:
        record(args.record, modules, args.tests_at, seconds, samples, args.pooled, tests_commit)
        print(f"recorded {len(modules)} module(s) in {HISTORY.relative_to(ROOT)}")
    if not args.tests_at:
        RESULTS.write_text(summarise(scope))
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
