"""Run a grid on a two-node Ray cluster started on this one machine, and check its results.

    python benchmark/cluster_check.py                      # the smoke grid (about 3 minutes)
    python benchmark/cluster_check.py --strategies first-order random --search-epochs 1

It starts a head (`ray start --head --block`) and a second node (`ray start --address … --block`),
each with its own CPUs, memory and object store (explicit sizes: two nodes share this machine's
memory), with `RAY_AUTH_MODE=token` as Ray 2.59+ needs on every node; runs
`benchmark/run.py --address …` against them with `--storage` a folder both nodes see; and stops
both nodes (their process groups, not every Ray on the machine). It passes when the grid exits 0,
its trials ran on both nodes, and every declared trial, evaluation and repeat has its rows.
Other arguments go to `benchmark/run.py`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":   # run as a script from a checkout: the packages beside it import uninstalled
    sys.path.insert(0, str(ROOT))
from nas.files import FileError
from nas.options import Parser
from resultstore.experiment import ReportError, load_experiment

NODE = ["--num-cpus", "1", "--memory", str(3 * 2**30), "--object-store-memory", str(400 * 2**20),
        "--disable-usage-stats", "--block"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_cli() -> str:
    """The `ray` command of this interpreter's Ray (its environment's, not whichever is on PATH)."""
    here = Path(sys.executable).parent / "ray"
    return str(here) if here.is_file() else (shutil.which("ray") or "ray")


def start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with log.open("w") as out:   # (the child keeps its own copy of the file)
        return subprocess.Popen([ray_cli(), "start", *args], stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the node's process group; after 20 s, SIGKILL to whatever of it is left."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)
    time.sleep(1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)    # the raylet's children, if any outlived it
    proc.wait(timeout=10)


def wait_for_nodes(address: str, n: int, env: dict, nodes: list[subprocess.Popen],
                   timeout: float = 120) -> None:
    code = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
            "print(sum(1 for x in ray.nodes() if x['Alive']))")
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        ended = [p for p in nodes if p.poll() is not None]
        if ended:
            raise RuntimeError(f"`ray start` exited with {ended[0].returncode}; see its log")
        try:
            out = subprocess.run([sys.executable, "-c", code, address], capture_output=True,
                                 text=True, env=env, timeout=60)
        except subprocess.TimeoutExpired:
            last = "no answer within 60 s"
            continue
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        last = (out.stderr.strip().splitlines() or [out.stdout.strip()])[-1]
        time.sleep(2)
    raise RuntimeError(f"the cluster at {address} did not reach {n} alive nodes in {timeout:.0f} s "
                       f"(last answer: {last})")


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="python benchmark/cluster_check.py",
               description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default=None,
                   help="folder for the results, Ray's storage and the nodes' logs (default: a new "
                        "temporary folder)")
    args, run_args = p.parse_known_args(argv)
    taken = [a for a in run_args if a.split("=")[0] in ("--experiment", "--results", "--address",
                                                       "--storage")]
    if taken:
        p.error(f"{taken[0].split('=')[0]} is set by the check itself (see --work)")
    work = Path(args.work or tempfile.mkdtemp(prefix="cluster-check-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))    # Ray's sockets: a short path
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    address = f"127.0.0.1:{port}"
    print(f"starting a head at {address} and a second node; logs in {work}", flush=True)
    head = start(["--head", "--port", str(port), "--include-dashboard=false",
                  "--temp-dir", str(temp), *NODE],
                 work / "head.log", env)
    nodes = [head]
    try:
        wait_for_nodes(address, 1, env, nodes)
        nodes.append(start(["--address", address, *NODE], work / "worker.log", env))
        wait_for_nodes(address, 2, env, nodes)
        print("2 nodes alive; running the grid", flush=True)
        cmd = [sys.executable, str(ROOT / "benchmark" / "run.py"), "--address", address,
               "--results", str(work / "results"), "--storage", str(work / "ray-storage"),
               "--experiment", "two-node", *(run_args or ["--grid", "smoke"])]
        start_s = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start_s
        (work / "grid.log").write_text(run.stdout + run.stderr)
        print(run.stdout.strip())
    finally:
        for node in reversed(nodes):
            stop(node)
        shutil.rmtree(temp, ignore_errors=True)
    summary = re.search(r"(\d+) trials: \d+ finished, (\d+) failed, \d+ interrupted; \d+s on (\d+) Ray node",
                        run.stdout)

    try:
        missing = load_experiment(work / "results" / "two-node").missing()
    except (ReportError, FileError) as e:
        missing = [str(e)]
    checks = {"the grid exited 0": run.returncode == 0,
              "its trials ran on 2 nodes": bool(summary) and summary.group(3) == "2",
              "every declared trial, evaluation and repeat has its rows": not missing}
    for what, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if missing:
        print(f"missing: {', '.join(missing[:5])}")
    if run.returncode != 0:
        print(run.stderr.strip()[-2000:], file=sys.stderr)
    print(f"{'passed' if all(checks.values()) else 'failed'}: two-node grid in {wall:.0f} s; "
          f"results in {work / 'results' / 'two-node'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
