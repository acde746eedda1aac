"""nas: DARTS search spaces, hypergradient strategies, genotypes and evaluation.

This package knows neither Ray nor pandas: it can be used from a notebook.
"""

__version__ = "0.1.0"
