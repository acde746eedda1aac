"""How much of hyperDARTS's hypergradient passes through its hypernetwork? (issue 32)

hyperdarts-mlp's α-gradient is ∂/∂α L_val(w_φ(α), α): a direct term, the gradient at the weights
w_φ(α) held fixed (what first-order DARTS takes at its weights), plus the hypernetwork's term,
through w_φ(α)'s dependence on α. Its noise control (first-order-smoothed) has the direct term
only. This script runs the nb201-cpu grid's hyperdarts-mlp searches of the given seeds again, as
the grid runs them (its profile and options, one thread), and after every epoch splits the
hypergradient on four fixed batches of the search's validation half (64 images each, not
augmented) into the two terms (`nas.diagnostics.hypernetwork_share`): per batch ‖total‖,
‖hypernetwork term‖ / ‖total‖ and the cosine of the total to the direct term, averaged over the
batches; and the epoch's response change (‖w_φ(α̃) − w_φ(α)‖ / ‖w_φ(α)‖ at the φ-step's
perturbation, the search's own record). The measurement reads the search and changes nothing in it
(no random draw, no buffer: the supernet's BatchNorms keep no running statistics), so its searches
are the grid's: each seed's last genotype is compared with the shipped trial's (`parts/`).

  python results/examples/nb201-cpu/hypernet_path.py SEED [SEED ...] [--epochs N] [--out CSV]

Prints a line per epoch and a summary per seed; `--out` writes the per-epoch rows as CSV. A search
ends at the grid trial's cell where that trial ran on the same machine at the same trial code (a
search's end is reproducible on one machine, not across machines: docs/testing.md); `--experiment`
names the results to compare with (default: this folder's).
About a search's time per seed (8–25 minutes on this project's shared 2-core machine).
"""

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from benchmark.grids import get_grid
from benchmark.trial import load_for_trial
from nas.data import Batches, search_split
from nas.diagnostics import hypernetwork_share
from nas.search import Search
from resultstore.experiment import ReportError, load_experiment

here = Path(__file__).resolve().parent
BATCHES = 4


def fixed_batches(search: Search) -> list:
    """The first BATCHES × batch-size images of the search's validation half, not augmented."""
    d, config = search.data, search.config
    _, val_idx = search_split(len(d.train_y), config.seed, config.train_fraction)
    first = val_idx[:BATCHES * config.batch_size]
    return list(Batches(d.train_x[first], d.train_y[first], config.batch_size, d.mean, d.std,
                        augment=None, shuffle=False, device=search.device))


def run(seed: int, epochs: int | None) -> pd.DataFrame:
    grid = get_grid("nb201-cpu").override(strategies=["hyperdarts-mlp"], seeds=[seed],
                                          search_epochs=epochs)
    spec = grid.trials()[0]
    search = Search(spec.search, load_for_trial(spec.search_dataset, spec, search=True), "cpu")
    batches = fixed_batches(search)
    rows = []
    while not search.done:
        record = search.run_epoch()
        parts = pd.DataFrame([hypernetwork_share(search.strategy, b) for b in batches]).mean()
        rows.append({"seed": seed, "epoch": record["epoch"] + 1, **parts.to_dict(),
                     "response_change": record.get("response_change"), "genotype": record["genotype"]})
        r = rows[-1]
        print(f"seed {seed} epoch {r['epoch']:2d}: ‖g‖ {r['total_norm']:.4f}, hypernetwork's share "
              f"{r['hypernet_share']:.4f}, cosine to the direct term {r['cosine_to_direct']:.5f}, "
              f"response change {r['response_change']:.5f}", flush=True)
    return pd.DataFrame(rows)


def shipped_genotype(seed: int, experiment: Path) -> str | None:
    trials = load_experiment(experiment).trials
    found = trials[(trials.strategy == "hyperdarts-mlp") & (trials.seed == seed)].genotype
    return str(found.iloc[0]) if len(found) else None


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("seeds", type=int, nargs="+", help="the grid's seeds to search again")
    parser.add_argument("--epochs", type=int, default=None,
                        help="search epochs (default: the grid's; fewer ends elsewhere than the grid)")
    parser.add_argument("--out", type=Path, default=None, help="per-epoch rows as CSV")
    parser.add_argument("--experiment", type=Path, default=here,
                        help="the grid's results whose genotypes the searches are compared with "
                             "(default: this folder's shipped trials; e.g. results/nb201-cpu)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)   # (as the grid's trials run: one CPU each)
    frames = []
    for seed in args.seeds:
        start = time.process_time()
        f = run(seed, args.epochs)
        frames.append(f)
        last, shipped = f.genotype.iloc[-1], shipped_genotype(seed, args.experiment)
        same = ("no shipped trial of this seed" if shipped is None else
                "the shipped trial's" if last == shipped else f"NOT the shipped trial's ({shipped})")
        print(f"seed {seed}: {len(f)} epochs, {time.process_time() - start:.0f} CPU-s; the "
              f"hypernetwork's share of ‖g‖ median {f.hypernet_share.median():.4f}, largest "
              f"{f.hypernet_share.max():.4f} (epoch {int(f.epoch[f.hypernet_share.idxmax()])}); cosine "
              f"to the direct term smallest {f.cosine_to_direct.min():.5f}; last genotype {last}, "
              f"{same}", flush=True)
    if args.out is not None:
        pd.concat(frames).to_csv(args.out, index=False)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ReportError as e:   # (an --experiment that is no experiment: its one sentence)
        sys.exit(f"error: {e}")
