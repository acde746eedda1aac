"""Pass and HVP time at 8x16 batch B with page-fault counts (run under different malloc settings)."""
import sys, time, resource, statistics, torch
from nas.spaces import make_supernet, space_config
from nas.strategies import get_strategy, strategy_config
from nas.strategies.base import grad
from nas.strategies.implicit import dot
threads, batch, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads); torch.manual_seed(0)
net = make_supernet("darts", space_config("darts", channels=16, layers=8), 3, 10)
s = get_strategy("implicit-neumann")(net, strategy_config("implicit-neumann"))
tb = (torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,)))
def faults(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
T = {}
def timed(k, fn):
    f0, t0 = faults(), time.perf_counter(); out = fn()
    T.setdefault(k, []).append((time.perf_counter() - t0, faults() - f0)); return out
def one_pass():
    loss, _ = s.loss(tb); grad(loss, s.weights)
def hvp_block():
    with s.double_backward():
        loss, _ = s.loss(tb)
    g_w = torch.autograd.grad(loss, s.weights, create_graph=True, allow_unused=True, materialize_grads=True)
    u = [torch.randn_like(w) for w in s.weights]
    for _ in range(2):
        timed("hvp (all)", lambda: torch.autograd.grad(dot(g_w, u), s.weights, retain_graph=True, allow_unused=True, materialize_grads=True))
one_pass(); hvp_block(); T.clear()
for r in range(rounds):
    timed("pass", one_pass); hvp_block()
for k, v in T.items():
    print(f"{k:10s} {statistics.median(t for t, _ in v):7.2f} s  minor faults {statistics.median(f for _, f in v)/1e6:6.2f} M ({statistics.median(f for _, f in v)*4/2**20:5.1f} GiB)  {[round(t,2) for t,_ in v]}")
print(f"maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/2**20:.1f} GiB")
