"""The GPU acceptance check keeps working where there is no GPU: its tiny run goes through every
step (the CUDA tests are skipped without CUDA) and writes its table."""

import pandas as pd
import pytest
import torch

from benchmark import acceptance
from nas.strategies import SEARCHING


def test_the_tiny_acceptance_check_runs_every_step_and_writes_its_table(tmp_path, capsys):
    out = tmp_path / "acceptance"
    assert acceptance.main(["--tiny", "--no-compile", "--dataset", "digits", "--device", "cpu",
                            "--out", str(out)]) == 0
    rows = pd.read_parquet(out / "acceptance.parquet")
    assert rows["ok"].all()
    steps = rows[rows["check"] == "search step"]
    assert sorted(steps["strategy"]) == sorted(list(SEARCHING) * 2)
    assert set(steps["speed"]) == {"", "amp,channels_last,cudnn_benchmark"}
    assert (steps["step_s"] > 0).all() and (steps["peak_mem_bytes"] > 0).all()
    assert len(rows[rows["check"] == "evaluation training"]) == 2
    (trial,) = rows[rows["check"] == "full trial (shortened)"].itertuples()
    assert trial.dataset == "digits" and trial.detail.startswith("finished")
    table = (out / "acceptance.md").read_text()
    assert "tiny sizes, in one process: the times say nothing about a GPU" in table
    assert "| implicit-neumann | amp,channels_last,cudnn_benchmark |" in table
    assert "- 1 GPU(s): " in table and "- 8 GPU(s): " in table and "wall time" in table
    assert table in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="refuses only where there is no GPU")
def test_without_a_gpu_the_full_check_is_refused_in_one_sentence(tmp_path, capsys):
    assert acceptance.main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no CUDA device here") and "--tiny" in err and "\n" not in err
    assert not any(tmp_path.iterdir())
