"""Genotypes: the discrete DARTS cell, derived from α, printed, parsed and named.

A genotype lists, for the normal and the reduction cell, two (operation, input)
pairs per intermediate node; inputs 0 and 1 are the outputs of the two
previous cells and input i ≥ 2 is intermediate node i − 2. The DARTS text
form is what quark0/darts prints and stores in `genotypes.py`:

    Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
             reduce=[...], reduce_concat=[2, 3, 4, 5])
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from nas.ops import OPS

Gene = tuple[tuple[str, int], ...]


class GenotypeError(ValueError):
    """A genotype that cannot be parsed, is malformed, or has an unknown name."""


@dataclass(frozen=True)
class Genotype:
    normal: Gene
    normal_concat: tuple[int, ...]
    reduce: Gene
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for field in ("normal", "reduce"):
            object.__setattr__(self, field, _as_gene(getattr(self, field), field))
        for field in ("normal_concat", "reduce_concat"):
            object.__setattr__(self, field, _as_concat(getattr(self, field), field))
        _validate(self)

    @property
    def steps(self) -> int:
        """Number of intermediate nodes of each cell."""
        return len(self.normal) // 2

    def to_dict(self) -> dict:
        return {
            "normal": [list(g) for g in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [list(g) for g in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> Genotype:
        if not isinstance(d, dict):
            raise GenotypeError(f"a genotype must be a JSON object, got {type(d).__name__}")
        missing = [k for k in ("normal", "normal_concat", "reduce", "reduce_concat") if k not in d]
        if missing:
            raise GenotypeError(f"the genotype lacks the field(s) {', '.join(missing)}")
        return cls(normal=d["normal"], normal_concat=d["normal_concat"],
                   reduce=d["reduce"], reduce_concat=d["reduce_concat"])

    @classmethod
    def from_json(cls, text: str) -> Genotype:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise GenotypeError(f"the genotype is not valid JSON ({e.msg} at line {e.lineno})") from None
        return cls.from_dict(d)

    def __str__(self) -> str:
        """The DARTS text form, which `parse_genotype` reads back."""
        return (f"Genotype(normal={list(self.normal)!r}, normal_concat={list(self.normal_concat)!r}, "
                f"reduce={list(self.reduce)!r}, reduce_concat={list(self.reduce_concat)!r})")


def _as_gene(value, field: str) -> Gene:
    if not isinstance(value, (list, tuple)):
        raise GenotypeError(f"the genotype's {field!r} must be a list of (operation, input) pairs")
    gene = []
    for item in value:
        if (not isinstance(item, (list, tuple)) or len(item) != 2
                or not isinstance(item[0], str) or isinstance(item[1], bool)
                or not isinstance(item[1], int)):
            raise GenotypeError(
                f"the genotype's {field!r} holds {item!r}, which is not an (operation, input) pair")
        gene.append((item[0], item[1]))
    return tuple(gene)


def _as_concat(value, field: str) -> tuple[int, ...]:
    if isinstance(value, range):
        value = list(value)
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise GenotypeError(f"the genotype's {field!r} must be a list of node indices")
    return tuple(value)


def _validate(g: Genotype) -> None:
    for field in ("normal", "reduce"):
        gene: Gene = getattr(g, field)
        if not gene or len(gene) % 2:
            raise GenotypeError(
                f"the genotype's {field!r} must list two inputs per node, got {len(gene)} pair(s)")
        for k, (op, inp) in enumerate(gene):
            if op not in OPS or op == "none":
                valid = ", ".join(o for o in OPS if o != "none")
                raise GenotypeError(
                    f"the genotype's {field!r} uses the unknown operation {op!r}; valid: {valid}")
            node = k // 2 + 2  # nodes 0 and 1 are the cell's inputs
            if not 0 <= inp < node:
                raise GenotypeError(
                    f"the genotype's {field!r} feeds node {node} from input {inp}, "
                    f"but only inputs 0..{node - 1} exist there")
    if len(g.normal) != len(g.reduce):
        raise GenotypeError("the genotype's normal and reduction cells have different node counts")
    n_nodes = len(g.normal) // 2 + 2
    for field in ("normal_concat", "reduce_concat"):
        concat = getattr(g, field)
        if not concat or any(not 2 <= c < n_nodes for c in concat) or len(set(concat)) != len(concat):
            raise GenotypeError(
                f"the genotype's {field!r} is {list(concat)}, but must list distinct "
                f"intermediate nodes among 2..{n_nodes - 1}")


def parse_genotype(text: str) -> Genotype:
    """Read the DARTS text form (`Genotype(normal=[...], ...)`) or a JSON object.

    Uses the Python parser, never `eval`; `range(a, b)` is accepted for the
    concat fields because that is what the DARTS search script prints.
    """
    text = text.strip()
    if text.startswith("{"):
        return Genotype.from_json(text)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise GenotypeError(
            "the genotype text is not of the form Genotype(normal=[...], normal_concat=[...], "
            "reduce=[...], reduce_concat=[...])") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "Genotype" and not call.args):
        raise GenotypeError(
            "the genotype text must be one call Genotype(normal=..., normal_concat=..., "
            "reduce=..., reduce_concat=...) with keyword arguments")
    fields = {}
    for kw in call.keywords:
        fields[kw.arg] = _literal(kw.value, kw.arg)
    unknown = set(fields) - {"normal", "normal_concat", "reduce", "reduce_concat"}
    if unknown:
        raise GenotypeError(f"the genotype text has unknown field(s) {', '.join(sorted(unknown))}")
    return Genotype.from_dict(fields)


def _literal(node: ast.expr, field: str | None):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords):
        return range(*(_literal(a, field) for a in node.args))
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise GenotypeError(f"the genotype's {field!r} is not a literal list") from None


# The published genotypes (quark0/darts, cnn/genotypes.py).
DARTS_V1 = Genotype(
    normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
    reduce_concat=[2, 3, 4, 5],
)
DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5],
)
NAMED_GENOTYPES: dict[str, Genotype] = {"DARTS_V1": DARTS_V1, "DARTS_V2": DARTS_V2,
                                        "DARTS": DARTS_V2}


def resolve_genotype(spec: str) -> Genotype:
    """A genotype from a published name, a file (JSON or DARTS text), or the text itself."""
    if spec in NAMED_GENOTYPES:
        return NAMED_GENOTYPES[spec]
    if spec.upper() in NAMED_GENOTYPES:
        return NAMED_GENOTYPES[spec.upper()]
    looks_like_text = spec.lstrip().startswith(("Genotype", "{"))
    if not looks_like_text:
        path = Path(spec)
        if path.is_dir() and (path / "genotype.json").is_file():
            path = path / "genotype.json"
        if path.is_file():
            try:
                return parse_genotype(path.read_text())
            except GenotypeError as e:
                raise GenotypeError(f"{path}: {e}") from None
        raise GenotypeError(
            f"{spec!r} is neither a known genotype name ({', '.join(NAMED_GENOTYPES)}), "
            "nor an existing file, nor a Genotype(...) or JSON text")
    return parse_genotype(spec)


def derive_genotype(alpha_normal: torch.Tensor, alpha_reduce: torch.Tensor,
                    primitives: tuple[str, ...], steps: int, multiplier: int) -> Genotype:
    """The DARTS discretisation of α (quark0/darts `model_search.genotype`).

    α has one row per edge (edges of node 0, then node 1, …; node i has i + 2
    incoming edges) and one column per primitive. The softmax is taken within
    each edge first; then for each node the two incoming edges (necessarily
    from distinct predecessors) with the largest non-`none` probability are
    kept, each with its most probable non-`none` operation.
    """
    def parse(alpha: torch.Tensor) -> list[tuple[str, int]]:
        W = torch.softmax(alpha.detach().float().cpu(), dim=-1)
        if "none" in primitives:
            W[:, primitives.index("none")] = -1.0  # never chosen
        gene: list[tuple[str, int]] = []
        start = 0
        for i in range(steps):
            n = i + 2
            block = W[start:start + n]
            strength = block.max(dim=1).values
            # stable sort: ties go to the earlier input, as Python's sorted does in DARTS
            edges = sorted(range(n), key=lambda j: -float(strength[j]))[:2]
            for j in edges:  # strongest first, as DARTS lists them
                gene.append((primitives[int(block[j].argmax())], j))
            start += n
        return gene

    expected = sum(i + 2 for i in range(steps))
    for a in (alpha_normal, alpha_reduce):
        if a.shape != (expected, len(primitives)):
            raise ValueError(f"α has shape {tuple(a.shape)}, expected ({expected}, {len(primitives)})")
    concat = list(range(2 + steps - multiplier, steps + 2))
    return Genotype(normal=parse(alpha_normal), normal_concat=concat,
                    reduce=parse(alpha_reduce), reduce_concat=concat)
