"""The toy study: every strategy on the toy bilevel problem of the DARTS paper (Figure 2,
`nas.toy`), with second-order DARTS's ξ sweep as in the course project's reproduction.

    python -m studies toy                      # every strategy, ξ ∈ {0, 0.3, 0.5, 0.7}
    python -m studies toy --json --trajectory      # one JSON object per run
    python -m studies toy --plot toy.png       # trajectories over the contours of L_val

Its table beside the course project's numbers and its figure: analysis/toy.py.
"""

from __future__ import annotations

from dataclasses import fields

from nas.strategies import SEARCHING, get_strategy
from nas.toy import ToyRun


def default_runs(strategies: list[str] | None = None, xis: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7),
                 lr: float = 0.01, tol: float = 1e-4, max_iter: int = 10_000,
                 start: tuple[float, float] = (2.0, -2.0), options: dict | None = None,
                 seed: int = 0) -> list[ToyRun]:
    """The figure's runs: a strategy with a `toy_sweep` option (second-order(-exact)'s ξ) for every
    value of `xis`, every other strategy once.

    `options` maps option names to values (over TOY_OPTIONS) and is passed to the strategies
    that have them (neumann_eta to implicit-neumann, sigma to hyperDARTS, …).
    """
    strategies = strategies or list(SEARCHING)
    runs, swept_at_zero = [], set()
    for name in strategies:
        cls = get_strategy(name)
        valid = {f.name for f in fields(cls.Config)}
        opts = {**cls.toy_options, **{k: v for k, v in (options or {}).items() if k in valid}}
        if cls.toy_sweep:
            for value in xis:
                if value == 0 and cls.toy_sweep in swept_at_zero:
                    continue  # at 0 every strategy of this sweep is the same (first-order): run it once
                runs.append(ToyRun(name, lr, tol, max_iter, start, {**opts, cls.toy_sweep: value}, seed))
            if 0 in xis:
                swept_at_zero.add(cls.toy_sweep)
        else:
            runs.append(ToyRun(name, lr, tol, max_iter, start, opts, seed))
    return runs
