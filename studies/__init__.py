"""Studies built on the library: the toy bilevel problem and hypergradient fidelity.

    python -m studies toy          # every strategy on the DARTS toy problem
    python -m studies fidelity     # each strategy's hypergradient against a converged reference

They import `nas`, the results layer (`benchmark.store`) and the colours of `analysis.plotting`;
`nas` never imports them.
"""
