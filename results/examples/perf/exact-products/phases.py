"""Phase-by-phase time of second-order-exact's and implicit-neumann's steps against one pass.

python phases.py THREADS BATCH ROUNDS
"""
import sys, time, statistics, resource
import torch
import torch.nn.functional as F
from nas.spaces import make_supernet, space_config
from nas.strategies import get_strategy, strategy_config
from nas.strategies.base import grad
from nas.strategies.unrolled import current_xi, virtual_step
from nas.strategies.implicit import dot

threads, batch, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
from nas.speed import keep_freed_memory; print("keep_freed_memory", keep_freed_memory())
torch.set_num_threads(threads)
torch.manual_seed(0)
net = make_supernet("darts", space_config("darts", channels=16, layers=8), 3, 10)
def make(name):
    s = get_strategy(name)(net, strategy_config(name))
    return s
x1, y1 = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
x2, y2 = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
tb, vb = (x1, y1), (x2, y2)
T = {}
def tick(key, t0):
    t = time.perf_counter()
    T.setdefault(key, []).append(t - t0)
    return t

soe = make("second-order-exact")
# one weight step so the momentum buffers exist
soe.weight_step(tb)
neu = make("implicit-neumann")
neu.weight_step(tb)

def one_pass(s, mode=None):
    t0 = time.perf_counter()
    if mode:
        with net.for_double_backward():
            loss, _ = s.loss(tb)
    else:
        loss, _ = s.loss(tb)
    t1 = tick(f"pass{'-'+mode if mode else ''} fwd", t0)
    grad(loss, s.weights)
    tick(f"pass{'-'+mode if mode else ''} bwd", t1)

def pass_create_graph(s):
    t0 = time.perf_counter()
    with s.double_backward():
        loss, _ = s.loss(tb)
    t1 = tick("cg-pass fwd(all)", t0)
    g = torch.autograd.grad(loss, s.weights, create_graph=True, allow_unused=True, materialize_grads=True)
    tick("cg-pass bwd create_graph", t1)
    del g

def soe_step(s):
    t0 = time.perf_counter()
    xi = current_xi(s, None)
    unrolled = virtual_step(s, tb, xi, create_graph=True)
    t1 = tick("soe 1 virtual step (fwd all + bwd create_graph)", t0)
    with s.double_backward():
        val_loss, _ = s.loss(vb, weights=unrolled)
    t2 = tick("soe 2 val fwd (all, unrolled)", t1)
    g = grad(val_loss, s.alphas)
    t3 = tick("soe 3 double backward to alpha", t2)
    del unrolled, val_loss
    s.apply_alpha_gradient(g)
    t4 = tick("soe 4 alpha update", t3)
    s.weight_step(tb)
    tick("soe 5 weight step", t4)
    T.setdefault("soe total", []).append(time.perf_counter() - t0)

def neu_step(s, k=5):
    t0 = time.perf_counter()
    val_loss, _ = s.loss(vb)
    grads = grad(val_loss, s.alphas + s.weights)
    v = [g.detach() for g in grads[len(s.alphas):]]
    t1 = tick("neu 1 val pass", t0)
    with s.double_backward():
        train_loss, _ = s.loss(tb)
    t2 = tick("neu 2a train fwd (all)", t1)
    g_w = torch.autograd.grad(train_loss, s.weights, create_graph=True, allow_unused=True, materialize_grads=True)
    t3 = tick("neu 2b train bwd create_graph", t2)
    u = v
    for i in range(k):
        hu = torch.autograd.grad(dot(g_w, u), s.weights, retain_graph=True, allow_unused=True, materialize_grads=True)
        u = [a - 0.01 * h.detach() for a, h in zip(u, hu)]
        t3 = tick("neu 3 one hvp", t3)
    mixed = torch.autograd.grad(dot(g_w, u), s.alphas, allow_unused=True, materialize_grads=True)
    t4 = tick("neu 4 mixed product", t3)
    del g_w, train_loss
    s.weight_step(tb)
    tick("neu 5 weight step", t4)
    T.setdefault("neu total", []).append(time.perf_counter() - t0)

which = sys.argv[4:] or ["soe", "neu"]
# warm-up
one_pass(soe); one_pass(soe, "all"); T.clear()
for r in range(rounds):
    one_pass(soe); one_pass(soe, "all"); pass_create_graph(soe)
    if "soe" in which: soe_step(soe)
    if "neu" in which: neu_step(neu)
    print(f"round {r} done; maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f} MiB", flush=True)
P = statistics.median(a + b for a, b in zip(T["pass fwd"], T["pass bwd"]))
print(f"threads {threads} batch {batch} rounds {rounds}; one pass (separable) P = {P:.2f} s")
for k, v in T.items():
    m = statistics.median(v)
    print(f"{k:48s} {m:8.2f} s  {m / P:6.2f} P   {[round(t, 2) for t in v]}")
