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

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "results" / "examples" / "nb201-cpu" / "claims.py"


def test_the_prose_gives_the_numbers_of_the_shipped_report():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MISSING" not in done.stdout and "claims are in the prose" in done.stdout


def test_a_number_the_prose_does_not_give_is_named(tmp_path, capsys):
    tables = tmp_path / "tables"
    shutil.copytree(SCRIPT.parent / "tables", tables)
    lookups = pd.read_csv(tables / "lookups.csv")
    lookups.loc[lookups.strategy == "random-search", "acc"] += 0.5     # a report the prose does not match
    lookups.to_csv(tables / "lookups.csv", index=False)
    check = runpy.run_path(str(SCRIPT))["main"]
    assert check(tables=tables, root=ROOT) == 1
    out = capsys.readouterr().out
    missing = [line for line in out.splitlines() if line.startswith("MISSING")]
    assert len(missing) == 2 and all("Random search" in m or "reached" in m for m in missing)
    assert re.search(r"\n2 of \d+ claims missing from the prose", out)
