"""Would a fused search cell make nb201-cpu's searches cheaper? A prototype against the project's
SearchCell (nas/spaces/nb201.py) at the grid's first stage (8 channels, 16x16, batch 64,
channels_last, one thread): per source node one ReLU, the 1x1 and the 3x3 convolutions of all its
outgoing edges as one convolution each, softmax(α) folded into BatchNorm's weight, one pooling;
the same values (printed: forward difference, largest relative gradient difference). Times one
forward and backward (α and weights), interleaved rounds.

  python results/examples/nb201-throughput/fused_cell.py
"""
import time

import torch
import torch.nn.functional as F

from nas.spaces import make_supernet, space_config
from nas.spaces.nb201 import SearchCell

torch.set_num_threads(1)
torch.manual_seed(0)


def fused_forward(cell, x, weights):
    # weights: [6, 5] softmaxed. edges k in order (1,0),(2,0),(2,1),(3,0),(3,1),(3,2)
    pairs = cell.pairs
    C = x.shape[1]
    states = [x]
    acc = [None] * cell.nodes
    for i in range(cell.nodes - 1):
        s = states[i]
        ks = [k for k, (j, ii) in enumerate(pairs) if ii == i]
        r = F.relu(s)
        w1 = torch.cat([cell.edges[k].ops[2][1].weight for k in ks])
        w3 = torch.cat([cell.edges[k].ops[3][1].weight for k in ks])
        a1 = weights[ks, 2].repeat_interleave(C)
        a3 = weights[ks, 3].repeat_interleave(C)
        y1 = F.batch_norm(F.conv2d(r, w1), None, None, a1, None, True, 0.0, 1e-5)
        y3 = F.batch_norm(F.conv2d(r, w3, padding=1), None, None, a3, None, True, 0.0, 1e-5)
        p = cell.edges[ks[0]].ops[4](s)
        for n, k in enumerate(ks):
            j = pairs[k][0]
            e = (weights[k, 1] * s + weights[k, 4] * p + y1[:, n*C:(n+1)*C] + y3[:, n*C:(n+1)*C])
            acc[j] = e if acc[j] is None else acc[j] + e
        states.append(acc[i + 1])
    return states[-1]


cfg = space_config("nb201", channels=8, cells_per_stage=1)
net = make_supernet("nb201", cfg, 3, 10, image_size=16)
cell = [m for m in net.cells if isinstance(m, SearchCell)][0]
x = torch.randn(64, 8, 16, 16).contiguous(memory_format=torch.channels_last).requires_grad_()
alpha = torch.randn(6, 5, requires_grad=True)
w = torch.softmax(alpha, -1)
a = cell(x, w); b = fused_forward(cell, x, w)
print("max |diff| fwd", (a - b).abs().max().item())
ga = torch.autograd.grad(a.square().sum(), [x, alpha] + list(cell.parameters()), retain_graph=True)
gb = torch.autograd.grad(b.square().sum(), [x, alpha] + list(cell.parameters()))
print("max rel diff grads", max(((u - v).abs().max() / (u.abs().max() + 1e-12)).item() for u, v in zip(ga, gb)))


def run(f, n=20):
    t = time.perf_counter()
    for _ in range(n):
        w = torch.softmax(alpha, -1)
        y = f(x, w); torch.autograd.grad(y.square().sum(), [alpha] + list(cell.parameters()))
    return (time.perf_counter() - t) / n * 1000


for rnd in range(3):
    print("round", rnd, "current %.1f ms" % run(lambda x, w: cell(x, w)), "fused %.1f ms" % run(lambda x, w: fused_forward(cell, x, w)))
