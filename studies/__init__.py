"""Studies built on the library: the toy bilevel problem and hypergradient fidelity.

    python -m studies toy          # every strategy on the DARTS toy problem
    python -m studies fidelity     # each strategy's hypergradient against a converged reference

They import `nas` (the toy problem itself is `nas.toy`), the results layer (`resultstore`) and
`analysis` (the toy's table and figure, `analysis.toy`); nothing below them imports them.
"""
