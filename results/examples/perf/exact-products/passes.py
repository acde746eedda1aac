"""Pass time of the supernet at batch 64 and 128, alternating, in one process; page faults counted."""
import sys, time, resource, torch, statistics
import torch.nn.functional as F
from nas.spaces import make_supernet, space_config
from nas.speed import keep_freed_memory; keep_freed_memory()
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
torch.manual_seed(0)
net = make_supernet("darts", space_config("darts", channels=16, layers=8), 3, 10)
params = list(net.parameters())
data = {b: (torch.randn(b, 3, 32, 32), torch.randint(0, 10, (b,))) for b in (64, 128)}
def one(b):
    x, y = data[b]
    torch.autograd.grad(F.cross_entropy(net(x), y), params)
times = {64: [], 128: []}
faults = {64: [], 128: []}
for b in (64, 128): one(b)
for r in range(2):
    for b in (64, 128):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t = time.perf_counter(); one(b); times[b].append(time.perf_counter() - t)
        faults[b].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
for b in times:
    print(f"batch {b}: pass {statistics.median(times[b]):.2f} s {[round(t, 2) for t in times[b]]}, minor faults {faults[b]}")
print(f"ratio 128/64: {statistics.median(times[128]) / statistics.median(times[64]):.2f}")
