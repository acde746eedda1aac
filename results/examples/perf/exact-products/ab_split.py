"""Old (fused) against new (split) _RecomputedPointwise, alternating in one process:
pass time (separable), HVP time (all), and bytes the create graph keeps, at 8x16 batch B.

Run with split-recomputed-pointwise.diff applied to nas/spaces/darts_batched.py and the old module at
/work/scratch/old_batched.py (`git show b594799:nas/spaces/darts_batched.py > /work/scratch/old_batched.py`)."""
import sys, time, statistics, resource, importlib.util, torch
import nas.spaces.darts_batched as new
spec = importlib.util.spec_from_file_location("old_batched", "/work/scratch/old_batched.py")
old = importlib.util.module_from_spec(spec); spec.loader.exec_module(old)
from nas.spaces import make_supernet, space_config
from nas.strategies import get_strategy, strategy_config
from nas.strategies.base import grad
from nas.strategies.implicit import dot
from nas.speed import keep_freed_memory
keep_freed_memory()
threads, batch, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads); torch.manual_seed(0)
net = make_supernet("darts", space_config("darts", channels=16, layers=8), 3, 10)
s = get_strategy("implicit-neumann")(net, strategy_config("implicit-neumann"))
tb = (torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,)))
new_cp = new.conv_pointwise
def use(v): new.conv_pointwise = old.conv_pointwise if v == "old" else new_cp
T = {}
def rec(k, t): T.setdefault(k, []).append(t)
def rss(): return int([l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]) / 1024
def run(v):
    use(v)
    t0 = time.perf_counter(); loss, _ = s.loss(tb); grad(loss, s.weights); rec(f"{v} pass", time.perf_counter() - t0)
    with s.double_backward():
        loss, _ = s.loss(tb)
    t0 = time.perf_counter()
    g_w = torch.autograd.grad(loss, s.weights, create_graph=True, allow_unused=True, materialize_grads=True)
    rec(f"{v} cg bwd", time.perf_counter() - t0)
    u = [torch.randn_like(w) for w in s.weights]
    for _ in range(2):
        t0 = time.perf_counter()
        torch.autograd.grad(dot(g_w, u), s.weights, retain_graph=True, allow_unused=True, materialize_grads=True)
        rec(f"{v} hvp", time.perf_counter() - t0)
    # bytes alive while the graph is: measured as RSS growth from a clean state is unreliable; use saved-tensor counting
    del g_w, loss
def saved(v):
    use(v)
    sizes = {}
    def pack(t):
        sizes[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes(); return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with s.double_backward():
            loss, _ = s.loss(tb)
        fwd = sum(sizes.values())
        g_w = torch.autograd.grad(loss, s.weights, create_graph=True, allow_unused=True, materialize_grads=True)
    return fwd, sum(sizes.values())
for v in (() if batch > 32 else ("old", "new")):
    f, t = saved(v); print(f"{v}: saved under 'all': forward {f/2**20:.0f} MiB, with the create graph {t/2**20:.0f} MiB (upper bound: hooked tensors are counted when packed by the outer hook)")
run("old"); run("new"); T.clear()
for r in range(rounds):
    for v in ("old", "new") if r % 2 == 0 else ("new", "old"):
        run(v)
P = statistics.median(T["old pass"])
for k in sorted(T):
    m = statistics.median(T[k]); print(f"{k:14s} {m:7.2f} s {m/P:5.2f} P(old) {[round(x,2) for x in T[k]]}")
