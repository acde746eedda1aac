"""one-level at 8x16 batch 64: its step against passes at 64 and 128, alternating, one process; faults."""
import sys, time, resource, statistics, torch
import torch.nn.functional as F
from nas.spaces import make_supernet, space_config
from nas.speed import Speed
from nas.strategies import make_strategy
from nas.strategies.base import grad
torch.set_num_threads(int(sys.argv[1])); rounds = int(sys.argv[2])
sp = Speed(); sp.setup("cpu")
torch.manual_seed(0)
net = make_supernet("darts", space_config("darts", channels=16, layers=8), 3, 10)
s = make_strategy("one-level", net); s.speed = sp
tb, vb = [(torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))) for _ in range(2)]
params = list(net.parameters())
x128 = torch.cat([tb[0], vb[0]]); y128 = torch.cat([tb[1], vb[1]])
def p64(): torch.autograd.grad(F.cross_entropy(s.forward(tb[0]), tb[1]), params)
def p128(): torch.autograd.grad(F.cross_entropy(s.forward(x128), y128), params)
def p128_ag():  # the strategy's own pieces without the optimisers
    loss, out, n = s._joint(tb, vb); grad(loss, s.alphas + s.weights)
def step(): s.step(tb, vb)
fns = {"step": step, "pass64": p64, "pass128": p128, "joint+grad": p128_ag}
T = {k: [] for k in fns}; Fl = {k: [] for k in fns}
for f in fns.values(): f()
for r in range(rounds):
    for k, f in fns.items():
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t = time.perf_counter(); f(); T[k].append(time.perf_counter() - t)
        Fl[k].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    print("round", r, {k: round(v[-1], 2) for k, v in T.items()}, flush=True)
P = statistics.median(T["pass64"])
for k in T:
    m = statistics.median(T[k]); print(f"{k:12s} {m:6.2f} s {m/P:5.2f} P  {[round(t,2) for t in T[k]]} faults {Fl[k]}")
print(f"maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f} MiB")
