"""HVP time by recompute mode, against one pass (separable), one process, alternating."""
import sys, time, statistics, resource, torch
from nas.spaces import make_supernet, space_config
from nas.strategies import get_strategy, strategy_config
from nas.strategies.base import grad
from nas.strategies.implicit import dot
threads, batch, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
modes = sys.argv[4:] or ["none", "separable", "all"]
torch.set_num_threads(threads); torch.manual_seed(0)
net = make_supernet("darts", space_config("darts", channels=16, layers=8), 3, 10)
s = get_strategy("implicit-neumann")(net, strategy_config("implicit-neumann"))
tb = (torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,)))
cells = [m for m in net.modules() if hasattr(m, "recompute")]
def set_mode(m):
    for c in cells: c.recompute = m
T = {}
def rec(k, t): T.setdefault(k, []).append(t)
def one_pass(mode):
    set_mode(mode)
    t0 = time.perf_counter(); loss, _ = s.loss(tb); grad(loss, s.weights); rec(f"pass {mode}", time.perf_counter() - t0)
def hvps(mode, n=2):
    set_mode(mode)
    t0 = time.perf_counter()
    loss, _ = s.loss(tb)
    g_w = torch.autograd.grad(loss, s.weights, create_graph=True, allow_unused=True, materialize_grads=True)
    rec(f"train fwd+cg bwd {mode}", time.perf_counter() - t0)
    u = [torch.randn_like(w) for w in s.weights]
    for _ in range(n):
        t0 = time.perf_counter()
        torch.autograd.grad(dot(g_w, u), s.weights, retain_graph=True, allow_unused=True, materialize_grads=True)
        rec(f"hvp {mode}", time.perf_counter() - t0)
    t0 = time.perf_counter()
    torch.autograd.grad(dot(g_w, u), s.alphas, allow_unused=True, materialize_grads=True)
    rec(f"mixed {mode}", time.perf_counter() - t0)
one_pass("separable"); hvps("all", 1); T.clear()
for r in range(rounds):
    for m in modes:
        one_pass("separable"); hvps(m)
    print(f"round {r}; maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f} MiB", flush=True)
P = statistics.median(T["pass separable"])
print(f"threads {threads} batch {batch}: P = {P:.2f} s")
for k in sorted(T):
    m = statistics.median(T[k]); print(f"{k:32s} {m:7.2f} s {m/P:5.2f} P  {[round(t,2) for t in T[k]]}")
