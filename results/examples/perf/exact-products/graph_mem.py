"""Bytes held by the autograd graph of g_w (create_graph), by node type; distinct storages."""
import sys, collections, torch
from nas.spaces import make_supernet, space_config
from nas.strategies import get_strategy, strategy_config
batch, mode = int(sys.argv[1]), sys.argv[2]
torch.set_num_threads(2); torch.manual_seed(0)
net = make_supernet("darts", space_config("darts", channels=16, layers=8), 3, 10)
s = get_strategy("implicit-neumann")(net, strategy_config("implicit-neumann"))
for m in net.modules():
    if hasattr(m, "recompute"): m.recompute = mode
tb = (torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,)))
loss, _ = s.loss(tb)
def walk(roots):
    seen, stack, by = set(), list(roots), collections.defaultdict(int)
    storages = {}
    count = collections.Counter()
    while stack:
        n = stack.pop()
        if n is None or n in seen: continue
        seen.add(n); count[type(n).__name__ if type(n).__name__ != "BackwardCFunction" else n.name()] += 1
        name = n.name()
        ts = []
        for a in dir(n):
            if a.startswith("_saved_"):
                try: v = getattr(n, a)
                except Exception: continue
                if isinstance(v, torch.Tensor): ts.append(v)
                elif isinstance(v, (tuple, list)): ts += [t for t in v if isinstance(t, torch.Tensor)]
        if hasattr(n, "saved_tensors"):
            try: ts += [t for t in n.saved_tensors if isinstance(t, torch.Tensor)]
            except Exception: pass
        for t in ts:
            if t.numel() == 0: continue
            key = t.untyped_storage().data_ptr()
            if key not in storages:
                storages[key] = t.untyped_storage().nbytes(); by[name] += storages[key]
        stack += [f for f, _ in n.next_functions]
    return by, sum(storages.values()), set(storages), seen
fwd_by, fwd_total, fwd_keys, fwd_nodes = walk([loss.grad_fn])
g_w = torch.autograd.grad(loss, s.weights, create_graph=True, allow_unused=True, materialize_grads=True)
all_by, all_total, all_keys, all_nodes = walk([g.grad_fn for g in g_w if g.grad_fn is not None])
print(f"batch {batch} mode {mode}: forward graph {fwd_total/2**20:.0f} MiB; g_w graph total {all_total/2**20:.0f} MiB, of which new {(all_total - fwd_total)/2**20:.0f} MiB; nodes {len(fwd_nodes)} -> {len(all_nodes)}")
new_by = collections.defaultdict(int)
for k, v in all_by.items(): new_by[k] += v
for k, v in fwd_by.items(): new_by[k] -= v
for k, v in sorted(new_by.items(), key=lambda kv: -kv[1])[:25]:
    print(f"  {k:40s} {v/2**20:8.1f} MiB")
