"""How tests/golden/behaviour.json was written, at commit 6007e16 (before issue 13's redesign).

It imports that commit's modules (nas.toy, benchmark.trial); run it from a checkout of 6007e16:
`git worktree add /tmp/old 6007e16 && cd /tmp/old && python /path/to/this/file OUT.json`.
"""

import json
import sys

import torch

from benchmark.grids import GRIDS
from benchmark.trial import load_for_trial, search_config
from nas.data import load_dataset
from nas.evaluate import EvalNetwork, count_parameters
from nas.genotype import NAMED_GENOTYPES, parse_genotype
from nas.search import Search, SearchConfig
from nas.spaces import make_supernet, space_config
from nas.toy import default_runs, run_toy

out = {"commit": "6007e16"}
out["toy"] = [{k: r[k] for k in ("label", "iterations", "converged", "alpha", "w", "first_hypergradient")}
              for r in (run_toy(x) for x in default_runs())]
out["smoke_genotypes"] = {}
for spec in GRIDS["smoke"].trials():
    s = Search(search_config(spec), load_for_trial(spec.search_dataset, spec, search=True), "cpu")
    while not s.done:
        s.run_epoch()
    out["smoke_genotypes"][spec.strategy] = str(s.genotype())
params = {}
for name in ("DARTS_V1", "DARTS_V2"):
    g = NAMED_GENOTYPES[name]
    params[f"eval {name} 36x20 cifar10"] = count_parameters(EvalNetwork(g, 36, 20, 10, 3, True))
    params[f"eval {name} 8x5 gray"] = count_parameters(EvalNetwork(g, 8, 5, 10, 1, False))
for strat, gt in out["smoke_genotypes"].items():
    params[f"eval smoke {strat} 8x3 digits"] = count_parameters(EvalNetwork(parse_genotype(gt), 8, 3, 10, 1, True))
for label, space, opts, kw in [
        ("darts default", "darts", {}, dict(in_channels=3, num_classes=10)),
        ("darts cpu", "darts", dict(channels=4, layers=5, nodes=4, multiplier=4),
         dict(in_channels=3, num_classes=10, image_size=16)),
        ("darts pc4", "darts", dict(channels=8, layers=5, partial_channels=4), dict(in_channels=3, num_classes=10)),
        ("dense-dag default", "dense-dag", {}, dict(in_channels=1, num_classes=10, image_size=8)),
        ("dense-dag 16x6", "dense-dag", dict(blocks=16, layers=6, width=32),
         dict(in_channels=1, num_classes=10, image_size=14))]:
    torch.manual_seed(0)
    net = make_supernet(space, space_config(space, **opts), **kw)
    params[f"supernet {label} weights"] = sum(p.numel() for p in net.weight_parameters())
    params[f"supernet {label} alphas"] = sum(p.numel() for p in net.arch_parameters())
out["params"] = params
data = load_dataset("digits")
dense = {}
for strat in ("first-order", "hyperdarts-mlp", "random"):
    s = Search(SearchConfig(space="dense-dag", strategy=strat, dataset="digits", epochs=3, batch_size=64, seed=1,
                            space_options=dict(blocks=6, layers=4, width=16, dag_seed=1)), data, "cpu")
    while not s.done:
        s.run_epoch()
    dense[strat] = {"genotype": str(s.genotype()),
                    "alpha": [round(x, 6) for x in s.supernet.softmax_alphas()["blocks"].tolist()]}
out["dense_dag_search"] = {"config": "dense-dag blocks=6 layers=4 width=16 dag_seed=1, digits, 3 epochs, "
                                     "batch 64, seed 1", "results": dense}
with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=1)
