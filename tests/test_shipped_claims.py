"""The prose's headline numbers of the nb201-cpu grid (README.md, docs/findings.md) are those of
the report shipped beside its trials (results/examples/nb201-cpu/claims.py checks each)."""

from __future__ import annotations

import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "results" / "examples" / "nb201-cpu" / "claims.py"


def test_the_prose_gives_the_numbers_of_the_shipped_report():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MISSING" not in done.stdout and "claims are in the prose" in done.stdout


def test_a_number_the_prose_does_not_give_is_named(tmp_path, capsys):
    tables = tmp_path / "tables"
    shutil.copytree(runpy.run_path(str(SCRIPT))["CITED"] / "tables", tables)
    lookups = pd.read_csv(tables / "lookups.csv")
    lookups.loc[lookups.strategy == "random-search", "acc"] += 0.5     # a report the prose does not match
    lookups.to_csv(tables / "lookups.csv", index=False)
    check = runpy.run_path(str(SCRIPT))["main"]
    assert check(tables=tables, root=ROOT) == 1
    out = capsys.readouterr().out
    missing = [line for line in out.splitlines() if line.startswith("MISSING")]
    assert len(missing) == 2 and all("Random search" in m or "reached" in m for m in missing)
    assert re.search(r"\n2 of \d+ claims missing from the prose", out)


def test_the_answer_table_s_sds_give_back_the_report_s_detectable_differences():
    """answer.py reads each comparison's sd back from its interval; at that sd and n the smallest
    difference detectable after Holm is the report's own MDE, and the seeds it says 3 points need
    detect 3 points (and one seed fewer does not)."""
    from analysis.stats import ALPHA, minimum_detectable_difference

    cited = runpy.run_path(str(SCRIPT))["CITED"]    # (the report the prose cites: all 12 comparisons)
    done = subprocess.run([sys.executable, str(SCRIPT.parent / "answer.py"), str(cited)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rows = [line.split(" | ") for line in done.stdout.splitlines()
            if line.startswith("| ") and " − " in line]
    acc = pd.read_csv(cited / "tables" / "accuracy.csv")
    assert len(rows) == 12      # 6 comparisons × 2 evaluation datasets, as the report makes
    for cells in rows:
        n, mde, sd, seeds = int(cells[2]), float(cells[5]), float(cells[6]), cells[7].rstrip(" |")
        assert mde == pytest.approx(minimum_detectable_difference(sd, n, alpha=ALPHA / 12), abs=0.1)
        three = int(seeds.split(" / ")[0])
        assert minimum_detectable_difference(sd, three, alpha=ALPHA / 12) <= 3.05
        assert minimum_detectable_difference(sd, three - 1, alpha=ALPHA / 12) > 2.95
    hd = acc[(acc.strategy == "hyperdarts-mlp") & (acc.eval_dataset != "fashion-mnist")].iloc[0]
    first = next(c for c in rows if c[0] == "| hyperdarts-mlp − first-order" and c[1] == "CIFAR-10")
    assert first[3].startswith(f"{hd.vs_first_order_diff:+.2f}".replace("-", "−"))
