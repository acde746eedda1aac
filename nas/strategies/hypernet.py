"""A hypernetwork w_φ(α) ≈ w*(α) for any model: per-output-channel modulation (STN-style).

For every weight tensor with at least two dimensions (convolutions, linear
layers; output channels on dim 0):

    W_k(α) = W⁰_k + diag(s_k(α)) · Wʰ_k
    linear head (hyperDARTS-1):  s(α) = A α + a                  A: [Σ C_out, #A]
    MLP head    (hyperDARTS-2):  s(α) = V σ(U α + c) + v         U: [hidden, #A], hidden = #A/2

Other weights (BatchNorm affine parameters, biases) are W⁰ as they are. A and
a (or V and v) start at zero, so w_φ(α) = W⁰ and ∂w_φ/∂α = 0 at the start: the
first hypergradient is exactly first-order DARTS's. α enters as the raw
(pre-softmax) architecture parameters, flattened and concatenated.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class HyperNet(nn.Module):
    def __init__(self, weights: list[torch.Tensor], n_alpha: int, head: str = "linear",
                 hidden: int | None = None):
        super().__init__()
        if head not in ("linear", "mlp"):
            raise ValueError(f"head must be linear or mlp, got {head!r}")
        self.head = head
        self.modulated = [i for i, w in enumerate(weights) if w.dim() >= 2]
        if not self.modulated:
            raise ValueError("the model has no weight with an output-channel dimension to modulate")
        self.out_channels = [weights[i].shape[0] for i in self.modulated]
        total = sum(self.out_channels)
        self.hyper_weights = nn.ParameterList()
        for i in self.modulated:
            wh = torch.empty_like(weights[i].detach())
            nn.init.kaiming_uniform_(wh, a=math.sqrt(5))  # PyTorch's default conv/linear init
            self.hyper_weights.append(nn.Parameter(wh))
        like = {"device": weights[0].device, "dtype": weights[0].dtype}
        if head == "linear":
            self.A = nn.Parameter(torch.zeros(total, n_alpha, **like))
            self.a = nn.Parameter(torch.zeros(total, **like))
        else:
            hidden = hidden if hidden is not None else max(1, n_alpha // 2)
            bound = 1.0 / math.sqrt(n_alpha)
            self.U = nn.Parameter(torch.empty(hidden, n_alpha, **like).uniform_(-bound, bound))
            self.c = nn.Parameter(torch.zeros(hidden, **like))
            self.V = nn.Parameter(torch.zeros(total, hidden, **like))
            self.v = nn.Parameter(torch.zeros(total, **like))

    @property
    def total_channels(self) -> int:
        return sum(self.out_channels)

    def scales(self, alpha: torch.Tensor) -> torch.Tensor:
        """s(α): one scale per modulated output channel, [Σ C_out]."""
        if self.head == "linear":
            return torch.addmv(self.a, self.A, alpha)
        return torch.addmv(self.v, self.V, torch.sigmoid(torch.addmv(self.c, self.U, alpha)))

    def forward(self, weights: list[torch.Tensor], alpha: torch.Tensor) -> list[torch.Tensor]:
        """The weights at α: `weights` (W⁰) with every modulated tensor replaced by W⁰ + s·Wʰ."""
        out = list(weights)
        chunks = self.scales(alpha).split(self.out_channels)
        for i, s, wh in zip(self.modulated, chunks, self.hyper_weights):
            w = weights[i]
            out[i] = w + s.view(-1, *([1] * (w.dim() - 1))) * wh
        return out
