"""Which tensors the create_graph graph of ∇_w L keeps first, by node type (argv: batch, node name,
e.g. MulBackward0): the saved attribute, shape and the node's next functions."""
import sys, collections, torch
from nas.spaces import make_supernet, space_config
from nas.strategies import get_strategy, strategy_config
batch = int(sys.argv[1])
torch.set_num_threads(2); torch.manual_seed(0)
net = make_supernet("darts", space_config("darts", channels=16, layers=8), 3, 10)
s = get_strategy("implicit-neumann")(net, strategy_config("implicit-neumann"))
for m in net.modules():
    if hasattr(m, "recompute"): m.recompute = "all"
tb = (torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,)))
loss, _ = s.loss(tb)
def saved(n):
    out = []
    for a in dir(n):
        if a.startswith("_saved_"):
            try: v = getattr(n, a)
            except Exception: continue
            if isinstance(v, torch.Tensor): out.append((a, v))
            elif isinstance(v, (tuple, list)): out += [(a, t) for t in v if isinstance(t, torch.Tensor)]
    return out
def walk(roots):
    seen, stack, order = set(), list(roots), []
    while stack:
        n = stack.pop()
        if n is None or n in seen: continue
        seen.add(n); order.append(n)
        stack += [f for f, _ in n.next_functions]
    return order
fwd = walk([loss.grad_fn])
fkeys = {t.untyped_storage().data_ptr() for n in fwd for _, t in saved(n) if t.numel()}
g_w = torch.autograd.grad(loss, s.weights, create_graph=True, allow_unused=True, materialize_grads=True)
allnodes = walk([g.grad_fn for g in g_w if g.grad_fn is not None])
seen = set(fkeys); rows = collections.Counter(); bytes_ = collections.Counter()
for n in allnodes:
    if n.name() != sys.argv[2]: continue
    for a, t in saved(n):
        if not t.numel(): continue
        k = t.untyped_storage().data_ptr()
        if k in seen: continue
        seen.add(k)
        key = (a, tuple(t.shape), tuple(ff.name() if ff else None for ff, _ in n.next_functions))
        rows[key] += 1; bytes_[key] += t.untyped_storage().nbytes()
for k, v in sorted(bytes_.items(), key=lambda kv: -kv[1])[:15]:
    print(f"{v/2**20:8.1f} MiB x{rows[k]} {k}")
