"""The published numbers (analysis/reference.csv) with their protocols and paper versions, and the
course project's numbers beside the measured ones: its reduced-protocol accuracies in the reference
table, its toy-problem iterations in the toy table."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from analysis.tables import load_reference, published_frame, reference_numbers_for, short_citation

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "analysis" / "reference.csv"
COURSE_PROTOCOL = "course-project reduced protocol (epochs and sizes not stated in the sources here)"
# (method, evaluation dataset) -> accuracy (%) of the course project's reduced protocol
COURSE_ACC = {("DARTS (first order)", "cifar10"): 78.28, ("DARTS (second order)", "cifar10"): 79.67,
              ("DARTS (first order)", "cifar100"): 38.45, ("DARTS (second order)", "cifar100"): 46.41}


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    return load_reference(CSV, space="darts")


def course_rows(ref: pd.DataFrame) -> pd.DataFrame:
    return ref[ref.protocol == COURSE_PROTOCOL]


def test_every_row_names_its_protocol_and_paper_version(ref):
    for col in ("protocol", "paper_version"):
        assert col in ref
        assert ref[col].notna().all() and (ref[col].str.strip() != "").all(), col
    darts = ref[ref.citation.str.contains("DARTS: Differentiable Architecture Search")]
    assert len(darts) == 3
    assert set(darts.paper_version) == {"ICLR 2019 (arXiv:1806.09055v2)"}
    assert set(darts.protocol) == {"DARTS-full: CIFAR-10 32×32, 600 epochs, 20 cells × 36 channels, cutout"}
    # The DARTS cells' CIFAR-100 numbers come from the P-DARTS paper, and say so.
    c100 = ref[ref.method.str.startswith("DARTS") & (ref.eval_dataset == "cifar100")
               & (ref.protocol != COURSE_PROTOCOL)]
    assert len(c100) == 2 and c100.paper_version.str.contains("P-DARTS").all()
    assert c100.protocol.str.contains("CIFAR-100").all()
    # Every other row's version is the venue of its citation.
    for r in ref[ref.protocol != COURSE_PROTOCOL].itertuples():
        assert r.paper_version.split(" (")[0] == r.citation.split(". ")[-1]


def test_the_course_projects_reduced_protocol_rows_are_there_with_their_numbers(ref):
    course = course_rows(ref)
    assert len(course) == 4
    got = {(r.method, r.eval_dataset): r.acc for r in course.itertuples()}
    assert got == COURSE_ACC   # exact: load_reference rounds 100 − test_error
    # Nothing else is known: no std, parameters, search cost or search dataset.
    for col in ("test_error_std", "params_m", "search_gpu_days", "search_dataset"):
        assert course[col].isna().all(), col
    assert course.paper_version.str.contains("course project").all()


def test_published_frame_shows_protocol_and_version_and_leaves_unknowns_empty(ref):
    frame = published_frame(ref)
    assert len(frame) == len(ref)
    for col in ("method (published)", "protocol", "paper version", "acc (%)", "source"):
        assert col in frame
    darts = frame[(frame["method (published)"] == "DARTS (second order)")
                  & (frame["evaluated on"] == "cifar10") & (frame["protocol"] != COURSE_PROTOCOL)].iloc[0]
    assert darts["acc (%)"] == "97.24 ± 0.09" and darts["paper version"] == "ICLR 2019 (arXiv:1806.09055v2)"
    assert darts["params (M)"] == "3.3" and darts["search cost"] == "4 GPU-days"
    course = frame[frame["protocol"] == COURSE_PROTOCOL]
    assert {(r["method (published)"], r["evaluated on"], r["acc (%)"]) for _, r in course.iterrows()} == {
        (m, e, f"{a:.2f}") for (m, e), a in COURSE_ACC.items()}
    assert (course["params (M)"] == "—").all() and (course["search cost"] == "—").all()
    assert (course["searched on"] == "not stated").all()
    # The protocols stay together: the full-protocol rows first, the course project's last.
    assert list(frame["protocol"]).index(COURSE_PROTOCOL) == len(frame) - 4


def test_published_frame_survives_empty_cells(ref):
    empty = ref.assign(test_error_std=np.nan, params_m=np.nan, search_gpu_days=np.nan, search_dataset=np.nan)
    frame = published_frame(empty)
    assert not frame["acc (%)"].str.contains("±").any()
    assert (frame["params (M)"] == "—").all() and (frame["search cost"] == "—").all()
    unstated = published_frame(ref.assign(protocol=np.nan, paper_version=np.nan))
    assert (unstated["protocol"] == "not stated").all() and (unstated["paper version"] == "not stated").all()
    assert unstated["acc (%)"].iloc[0] == "97.00 ± 0.14"
    assert published_frame(ref.iloc[0:0]).empty


def test_short_citation():
    assert short_citation("Liu, Simonyan, Yang. DARTS: Differentiable Architecture Search. ICLR 2019") == \
        "Liu et al., ICLR 2019"
    assert short_citation("Dong. One Author. CVPR 2019") == "Dong, CVPR 2019"
    text = "hyperDARTS poster (course-project reproduction of DARTS)"
    assert short_citation(text) == text


def test_published_numbers_of_another_protocol_get_their_own_panels(ref):
    """No measured profile is a published protocol: every published row is apart, one panel per
    protocol (full DARTS, course project), and a panel draws rows without a std."""
    import matplotlib.pyplot as plt

    from analysis import figures

    for dataset in ("cifar10", "cifar100"):
        same, apart = figures.split_reference(ref, dataset, None)
        assert same.empty
        assert set(apart) == {figures.FULL_DARTS, COURSE_PROTOCOL}
        assert len(apart[COURSE_PROTOCOL]) == 2
        fig, ax = plt.subplots()
        figures._published_panel(ax, apart[COURSE_PROTOCOL], COURSE_PROTOCOL)
        assert ax.get_ylim()[0] == 0 and len(ax.patches) == 2
        plt.close(fig)
        same, _ = figures.split_reference(ref, dataset, "cpu: CIFAR-10 16×16, 2 epochs")
        assert same.empty
    assert set(reference_numbers_for(ref, "cifar100").eval_dataset) == {"cifar100"}


# ---------------------------------------------------------------- the toy table


@pytest.fixture(scope="module")
def toy_records():
    from nas.toy import run_toy
    from studies.toy import default_runs

    return [run_toy(r) for r in default_runs()]


COURSE_RUNS = {"first-order": 659, "first-order (ξ=0)": 659, "second-order ξ=0.3": 411,
               "second-order ξ=0.5": 296, "second-order ξ=0.7": 335, "second-order-exact ξ=0.3": 411,
               "second-order-exact ξ=0.5": 296, "second-order-exact ξ=0.7": 335}


def test_the_toy_table_prints_the_course_projects_iterations_beside_the_measured_ones(toy_records):
    from analysis.toy import format_table

    lines = format_table(toy_records).splitlines()
    header = lines[0].split()
    assert header[:6] == ["strategy", "iterations", "alpha", "w", "first", "g"] and "µs/iter" in header
    assert "course" in lines[0] and "same it." in lines[0]
    rows = {line[:28].strip(): line[28:].split() for line in lines[1:1 + len(toy_records)]}
    assert set(COURSE_RUNS) <= set(rows)
    for label, course in COURSE_RUNS.items():
        cells = rows[label]
        measured, us = int(cells[0]), float(cells[4])
        assert measured == course   # this project reproduces the course project's count exactly
        assert us > 0               # the measured time per iteration stays
        assert cells[5:] == [str(course), "not", "stated", "yes"], label
    for label, cells in rows.items():
        if label not in COURSE_RUNS:
            assert cells[5:8] == ["—", "—", "—"], label
    note = " ".join(lines[1 + len(toy_records):])
    assert "time per iteration is not stated" in note and "lr 0.01" in note


def test_the_course_numbers_apply_only_to_the_same_settings(toy_records):
    from analysis.toy import course_iterations, table_row

    r = next(r for r in toy_records if r["label"] == "second-order ξ=0.5")
    assert course_iterations(r) == 296
    for change in ({"lr": 0.02}, {"tol": 1e-3}, {"max_iter": 200}, {"start": [1.0, 1.0]}):
        other = {**r, **change}
        assert course_iterations(other) is None
        assert table_row(other).split()[-3:] == ["—", "—", "—"]
    off = {**r, "iterations": 300}
    assert table_row(off).split()[-5:] == ["296", "not", "stated", "no", "(+4)"]


def test_the_report_tabulates_the_toy_runs_beside_the_course_project(toy_records):
    from analysis.report import toy_table

    table = toy_table(toy_records)
    (_, frame), = table.blocks
    num = table.numbers.set_index("run")
    for label, course in COURSE_RUNS.items():
        assert num.loc[label, "course_iterations"] == course == num.loc[label, "iterations"]
        assert bool(num.loc[label, "iterations_match"])
        row = frame[frame.run == label].iloc[0]
        assert row["course project: iterations"] == str(course)
        assert row["course project: µs/iter"] == "not stated" and row["same iterations"] == "yes"
    others = num.drop(index=list(COURSE_RUNS))
    assert others["course_iterations"].isna().all() and others["iterations_match"].isna().all()
    assert "not stated in any source here" in table.note
    assert toy_table([]) is None


def test_gene_difference_counts_the_input_operation_pairs_a_genotype_does_not_share():
    from analysis.tables import gene_difference
    from nas.genotype import DARTS_V1, DARTS_V2

    assert gene_difference(str(DARTS_V2), str(DARTS_V2)) == 0.0
    d = gene_difference(str(DARTS_V1), str(DARTS_V2))
    assert 0.0 < d < 1.0
    # by hand: the share of DARTS_V1's 16 genes that DARTS_V2 lacks, node by node
    v1, v2 = DARTS_V1, DARTS_V2
    lacking = 0
    for cell in ("normal", "reduce"):
        a, b = getattr(v1, cell), getattr(v2, cell)
        for node in range(4):
            mine = {(i, op) for op, i in a[2 * node: 2 * node + 2]}
            theirs = {(i, op) for op, i in b[2 * node: 2 * node + 2]}
            lacking += len(mine - theirs)
    assert d == lacking / 16


def test_the_chance_gene_difference_is_what_two_random_genotypes_show():
    import numpy as np
    import torch

    from analysis.tables import gene_difference, random_gene_difference
    from nas.spaces import make_supernet, space_config
    from nas.strategies import make_strategy

    net = make_supernet("darts", space_config("darts", channels=2, layers=3, nodes=4, multiplier=4), 1, 10)
    cells = []
    for seed in range(400):
        torch.manual_seed(seed)
        make_strategy("random", net)
        cells.append(str(net.genotype()))
    diffs = [gene_difference(a, b) for a, b in zip(cells[::2], cells[1::2])]
    expected = random_gene_difference(4, 7)
    assert expected == 1 - (2 / 7) * np.mean([1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert abs(np.mean(diffs) - expected) < 3 * np.std(diffs) / np.sqrt(len(diffs)) + 1e-3


# NAS-Bench-201's published results (search on CIFAR-10, the cell reported on all three datasets):
# the numbers as checked against later papers' tables (analysis/reference.csv says so)
NB201_ACC = {("DARTS-V1 (first order)", "cifar10"): 54.30, ("DARTS-V1 (first order)", "cifar100"): 15.61,
             ("DARTS-V1 (first order)", "imagenet16-120"): 16.32,
             ("DARTS-V2 (second order)", "cifar10"): 54.30, ("GDAS", "cifar100"): 70.70,
             ("DrNAS", "imagenet16-120"): 46.34, ("iDARTS", "cifar10"): 93.58}


def test_nas_bench_201s_published_results_are_their_own_space():
    nb = load_reference(CSV, space="nb201")
    assert set(nb.method) == {"DARTS-V1 (first order)", "DARTS-V2 (second order)", "GDAS", "SETN", "ENAS",
                              "Random search", "DrNAS", "β-DARTS", "iDARTS"}
    got = {(r.method, r.eval_dataset): r.acc for r in nb.itertuples()}
    assert {k: got[k] for k in NB201_ACC} == NB201_ACC
    assert set(nb.search_dataset) == {"cifar10"} and nb.protocol.str.startswith("NAS-Bench-201").all()
    assert all(v.split(" (")[0] == c.split(". ")[-1] for v, c in zip(nb.paper_version, nb.citation))
    # a DARTS-space report never sees them, and the whole table is both
    assert not set(nb.protocol) & set(load_reference(CSV, space="darts").protocol)
    assert len(load_reference(CSV)) == len(nb) + len(load_reference(CSV, space="darts"))
