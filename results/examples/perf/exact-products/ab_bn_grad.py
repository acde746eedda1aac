"""A/B: _BatchNorm's create_graph input gradient as autograd operations (old) or one Function
(new), alternating in one process: train fwd + create_graph bwd, one product, the mixed product."""
import sys, time, statistics, torch
from nas.spaces import make_supernet, space_config
from nas.spaces import darts_batched as db
from nas.strategies import get_strategy, strategy_config
from nas.strategies.base import grad
from nas.strategies.implicit import dot
threads, batch, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads); torch.manual_seed(0)
from nas.speed import keep_freed_memory; keep_freed_memory()
net = make_supernet("darts", space_config("darts", channels=16, layers=8), 3, 10)
s = get_strategy("implicit-neumann")(net, strategy_config("implicit-neumann"))
tb = (torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,)))
new_backward = db._BatchNorm.backward
def old_backward(ctx, dy, dinvstd):
    y, invstd = ctx.saved_tensors
    dx = None
    shape = (1, -1) + (1,) * (y.dim() - 2)
    dims = [0, *range(2, y.dim())]
    if dy is not None:
        if torch.is_grad_enabled():
            s_ = invstd.view(shape)
            dx = dy * s_ - y * (s_ * (dy * y).mean(dims, keepdim=True)) - s_ * dy.mean(dims, keepdim=True)
        else:
            ones = torch.ones_like(invstd)
            dx = torch.ops.aten.native_batch_norm_backward(dy, y, invstd, None, None, torch.zeros_like(invstd), ones, True, 0.0, [True, False, False])[0]
    if dinvstd is not None:
        m = y.numel() // y.shape[1]
        part = y * (-(invstd * invstd) * dinvstd / m).view(shape)
        dx = part if dx is None else dx + part
    return (None if dx is None else dx.to(y.dtype)), None
T = {}
def rec(k, t): T.setdefault(k, []).append(t)
u = [torch.randn_like(w) for w in s.weights]
out = {}
def run(mode):
    db._BatchNorm.backward = staticmethod(old_backward if mode == "old" else new_backward)
    with s.double_backward():
        t0 = time.perf_counter()
        loss, _ = s.loss(tb)
        g_w = torch.autograd.grad(loss, s.weights, create_graph=True, allow_unused=True, materialize_grads=True)
        rec(f"train fwd+cg bwd {mode}", time.perf_counter() - t0)
        t0 = time.perf_counter()
        h = torch.autograd.grad(dot(g_w, u), s.weights, retain_graph=True, allow_unused=True, materialize_grads=True)
        rec(f"hvp {mode}", time.perf_counter() - t0)
        t0 = time.perf_counter()
        m = torch.autograd.grad(dot(g_w, u), s.alphas, allow_unused=True, materialize_grads=True)
        rec(f"mixed {mode}", time.perf_counter() - t0)
    out[mode] = (h, m)
def one_pass():
    t0 = time.perf_counter(); loss, _ = s.loss(tb); grad(loss, s.weights); rec("pass", time.perf_counter() - t0)
one_pass()
for r in range(rounds):
    for mode in (("old", "new") if r % 2 == 0 else ("new", "old")):
        run(mode); one_pass()
P = statistics.median(T["pass"])
print(f"threads {threads} batch {batch} rounds {rounds}: P = {P:.2f} s")
for k in sorted(T):
    print(f"{k:28s} {statistics.median(T[k]):6.2f} s {statistics.median(T[k])/P:5.2f} P  {[round(t, 2) for t in T[k]]}")
h0, m0 = out["old"]; h1, m1 = out["new"]
rel = max(((a - b).norm() / a.norm()).item() for a, b in zip(h0 + m0, h1 + m1) if a.norm() > 0)
print(f"largest relative difference old/new (products and mixed): {rel:.2e}")
