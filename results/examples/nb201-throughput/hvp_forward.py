"""One exact Hessian-vector product of the training loss at the nb201-cpu grid's search size (batch 64,
one thread, channels-last), by double backward through a kept graph (what the implicit strategies
do) and by forward-over-reverse (`torch.func.jvp` of `torch.func.grad`): their relative difference
and their CPU times in interleaved rounds, beside a forward and backward.

  python results/examples/nb201-throughput/hvp_forward.py
"""

import torch
from grid_search import first_batches, grid_search, ms, random_images
from torch.func import grad as fgrad
from torch.func import jvp

from nas.strategies.base import grad
from nas.strategies.implicit import dot

search = grid_search("implicit-neumann", random_images(512))
s, (train, _) = search.strategy, first_batches(search)
with s.double_backward():
    loss, _ = s.loss(train)
g_w = torch.autograd.grad(loss, s.weights, create_graph=True, allow_unused=True,
                          materialize_grads=True)
u = [torch.randn_like(p) for p in s.weights]
w0 = tuple(p.detach() for p in s.weights)


def reverse_over_reverse():
    return torch.autograd.grad(dot(g_w, u), s.weights, retain_graph=True, allow_unused=True,
                               materialize_grads=True)


def loss_of(*w):
    return s.loss(train, weights=list(w))[0]


gradient = fgrad(loss_of, argnums=tuple(range(len(w0))))


def forward_over_reverse():
    return jvp(gradient, w0, tuple(u))[1]


def forward_backward():
    return grad(s.loss(train)[0], s.weights)


a, b = reverse_over_reverse(), forward_over_reverse()
num = sum(((ai - bi) ** 2).sum() for ai, bi in zip(a, b)) ** 0.5
den = sum((ai ** 2).sum() for ai in a) ** 0.5
print("relative difference", float((num / den).detach()))


for r in range(3):
    print(f"round {r + 1}: reverse-over-reverse {ms(reverse_over_reverse):.0f} ms; "
          f"forward-over-reverse {ms(forward_over_reverse):.0f} ms; "
          f"forward+backward {ms(forward_backward):.0f} ms", flush=True)
