"""Mutation testing of the library, module by module, and its summary.

    pip install -e ".[mutation]"
    python mutation/run.py nas/genotype.py                # one module (about minutes)
    python mutation/run.py nas/strategies benchmark/store.py --max-children 2
    python mutation/run.py --all                          # every module in scope (hours)
    python mutation/run.py --summary                      # only rewrite mutation/results.md

mutmut (configured in pyproject.toml, [tool.mutmut]) copies the packages into mutants/, plants
one small change at a time in a function (an operator, a constant, a condition, a removed call)
and runs the tests that call that function, fastest first, until one fails: the mutant is
killed. One that no test notices survives; it is either a gap in the tests or equivalent (it
computes the same thing), which mutation/equivalent.toml records with the reason. The first run
maps which tests call which function by running the selected tests once (several minutes; kept
in mutants/mutmut-stats.json until a test or a source file changes).

The summary, mutation/results.md, gives per module: mutants, killed (a test failed or timed
out), survived, equivalent, no tests, and the score = killed / (mutants - equivalent - not run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

try:
    import tomllib
except ImportError:   # Python 3.10
    raise SystemExit("error: mutation/run.py needs Python 3.11 or later (tomllib)") from None

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "mutation" / "equivalent.toml"
RESULTS = ROOT / "mutation" / "results.md"


def in_scope() -> list[Path]:
    """The source files that [tool.mutmut] only_mutate names."""
    from fnmatch import fnmatch

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    files = [p.relative_to(ROOT) for src in config["source_paths"] for p in (ROOT / src).rglob("*.py")]
    return sorted(p for p in files if any(fnmatch(str(p), g) for g in config["only_mutate"]))


def module_name(path: Path) -> str:
    parts = list(path.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def globs_for(target: str) -> list[str]:
    """mutmut's mutant-name globs for a file or a folder of files: `<module>.x*` (its functions
    `x_name` and methods `xǁClassǁname`, not a submodule's)."""
    path = Path(target)
    files = [p for p in in_scope() if p == path or path in p.parents]
    if not files:
        raise SystemExit(f"error: {target} names no module that [tool.mutmut] only_mutate covers; "
                         f"those are under {', '.join(sorted({str(p.parts[0]) for p in in_scope()}))}")
    return [f"{module_name(p)}.x*" for p in files]


def status_of(code) -> str:
    from mutmut.__main__ import status_by_exit_code  # (mutmut 3.8: exit code -> status)

    return status_by_exit_code[code]


def collect() -> dict[str, dict[str, str]]:
    """{module: {mutant: status}} from mutants/**/*.py.meta."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        rel = meta.relative_to(ROOT / "mutants").with_suffix("")
        data = json.loads(meta.read_text())
        for key, code in data.get("exit_code_by_key", {}).items():
            out[module_name(rel)][key] = status_of(code)
    return out


def equivalent_reasons() -> dict[str, str]:
    """{mutant name: reason} from mutation/equivalent.toml, whatever tables it is grouped in."""
    def leaves(d: dict) -> dict[str, str]:
        out = {}
        for k, v in d.items():
            out.update(leaves(v) if isinstance(v, dict) else {k: v})
        return out

    return leaves(tomllib.loads(EQUIVALENT.read_text())) if EQUIVALENT.is_file() else {}


def summarise(scope: list[Path]) -> str:
    reasons = equivalent_reasons()
    found = collect()
    lines = ["# Mutation testing: results", "",
             "Written by `python mutation/run.py` (mutmut 3.8.1) from mutants/; see mutation/README.md.",
             "killed: a test failed, crashed or timed out; equivalent: survived, and "
             "mutation/equivalent.toml says why it computes the same; not run: not checked yet, "
             "interrupted or suspicious (an exit code mutmut does not expect); score = killed / "
             "(mutants − equivalent − not run).", "",
             "| module | mutants | killed | survived | equivalent | no tests | not run | score |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    survivors = []
    total = Counter()
    for path in scope:
        mod = module_name(path)
        statuses = found.get(mod, {})
        if not statuses:
            continue
        c = Counter()
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
        total.update(c)
        lines.append(_row(mod, c))
    lines.append(_row("**all run**", total))
    lines += ["", f"Survivors without a recorded reason ({len(survivors)}; `mutmut show NAME` prints "
              "the change):", ""]
    lines += [f"- `{k}`" for k in survivors] or ["- none"]
    if reasons:
        lines += ["", "Equivalent (from mutation/equivalent.toml):", ""]
        lines += [f"- `{k}`: {v}" for k, v in sorted(reasons.items())]
    return "\n".join(lines) + "\n"


def _row(name: str, c: Counter) -> str:
    run = c["mutants"] - c["equivalent"] - c["not run"]
    score = f"{100 * c['killed'] / run:.0f}%" if run else "—"
    return (f"| {name} | {c['mutants']} | {c['killed']} | {c['survived']} | {c['equivalent']} | "
            f"{c['no tests']} | {c['not run']} | {score} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python mutation/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("targets", nargs="*", help="source files or folders, e.g. nas/genotype.py nas/strategies")
    p.add_argument("--all", action="store_true", help="every module in scope")
    p.add_argument("--max-children", type=int, default=2,
                   help="mutants tested at once (default: 2, this machine's cores)")
    p.add_argument("--summary", action="store_true", help="only rewrite mutation/results.md")
    args = p.parse_args(argv)
    scope = in_scope()
    if not args.summary:
        if not args.targets and not args.all:
            p.error("name modules or folders to mutate, or --all, or --summary")
        globs = [g for t in (["."] if args.all else args.targets)
                 for g in (globs_for(t) if t != "." else [f"{module_name(s)}.x*" for s in scope])]
        start = time.perf_counter()
        done = subprocess.run(["mutmut", "run", "--max-children", str(args.max_children), *globs],
                              cwd=ROOT)
        print(f"mutmut ran {len(globs)} module(s) in {time.perf_counter() - start:.0f} s "
              f"(exit {done.returncode})")
        if done.returncode != 0:
            print(f"error: mutmut failed (exit {done.returncode}); {RESULTS.name} is left as it was",
                  file=sys.stderr)
            return 1
    RESULTS.write_text(summarise(scope))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
