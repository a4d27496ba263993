"""Training speed (images/s) and peak memory of PIPNet backbones on this CPU.

One training step = forward + PIPNet loss + backward + Adam step on a fixed random batch
(batch 16 by default) with valid random targets, so data loading is not measured. Each
configuration runs in a fresh subprocess, so its peak RSS (`ru_maxrss`, or psutil's
high-water mark where available) belongs to that configuration alone. Steps after the
warm-up are timed one by one; the median step gives images/s. The 1-minute load average
is recorded before and after, since a busy machine slows every number here.

    .venv/bin/python benchmarks/train_speed.py [--steps 5] [--warmup 1] [--budget 20] [--threads 2] [--configs ...]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "train_speed.json"

# name -> (backbone, width, net_stride, input_size)
CONFIGS = {
    "mobilenet_v2-640": ("mobilenet_v2", 640, 32, 256),
    "resnet18": ("resnet18", 0, 32, 256),
    "mobilenet_v2-320-s16": ("mobilenet_v2", 320, 16, 128),
}
DEFAULT = list(CONFIGS)


def peak_rss_mb() -> tuple[float, str]:
    """Peak resident memory of this process in MiB, and how it was measured."""
    try:
        import psutil  # optional

        info = psutil.Process().memory_full_info()
        peak = getattr(info, "peak_wset", None)  # Windows only; Linux has no psutil high-water mark
        if peak:
            return peak / 2**20, "psutil peak_wset"
    except Exception:  # psutil missing or limited on this platform
        pass
    import resource  # POSIX

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1.0 if sys.platform == "darwin" else 1024.0  # bytes on macOS, KiB on Linux
    return kb * scale / 2**20, "ru_maxrss"


def worker(name: str, batch: int, warmup: int, steps: int, threads: int, budget: float) -> dict:
    """Run in a fresh process: build the model, train on a fixed random batch, report speed and memory."""
    import numpy as np
    import torch

    from pipnet106.config import Config
    from pipnet106.models.loss import pip_loss
    from pipnet106.data.meanface import neighbors
    from pipnet106.models import build_model, count_params
    from pipnet106.synth.faces import template
    from pipnet106.data.targets import encode

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rss_import, _ = peak_rss_mb()
    backbone, width, stride, size = CONFIGS[name]
    cfg = Config(backbone=backbone, width=width, net_stride=stride, input_size=size)
    model = build_model(cfg, warn_scratch=False).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    grid = size // stride
    nb = neighbors(template(), cfg.num_nb)
    rng = np.random.default_rng(0)
    tgts = [encode(rng.uniform(0.1, 0.9, (106, 2)), np.ones(106, bool), grid, nb) for _ in range(batch)]
    tgt = {k: torch.as_tensor(np.stack([t[k] for t in tgts])) for k in tgts[0]}
    x = torch.randn(batch, 3, size, size)

    def step() -> float:
        loss, _ = pip_loss(model(x), tgt, cfg.cls_weight, cfg.reg_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)

    for _ in range(warmup):
        step()
    times: list[float] = []
    while len(times) < steps and (len(times) < 2 or sum(times) < budget):
        t = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t)
    if not np.isfinite(loss):
        raise RuntimeError(f"{name}: non-finite loss")
    rss, how = peak_rss_mb()
    med = statistics.median(times)
    return {"config": name, "backbone": backbone, "width": width or None, "net_stride": stride,
            "input_size": size, "grid": grid, "batch": batch, "params_m": round(count_params(model) / 1e6, 3),
            "warmup_steps": warmup, "timed_steps": len(times), "step_s_median": round(med, 4),
            "step_s_min": round(min(times), 4), "step_s_max": round(max(times), 4),
            "images_per_s": round(batch / med, 2), "peak_rss_mb": round(rss, 1),
            "rss_after_import_mb": round(rss_import, 1), "memory_method": how}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=DEFAULT, choices=list(CONFIGS))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    ap.add_argument("--budget", type=float, default=20.0,
                    help="stop timing a configuration after this many seconds (at least 2 steps; default 20)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--out", default=str(RESULTS), help="JSON results file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.batch, args.warmup, args.steps, args.threads, args.budget)))
        return 0

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    rows = []
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    for name in args.configs:
        cmd = [sys.executable, __file__, "--worker", name, "--batch", str(args.batch), "--warmup", str(args.warmup),
               "--steps", str(args.steps), "--threads", str(args.threads), "--budget", str(args.budget)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            print(res.stderr[-2000:], file=sys.stderr)
            return 1
        row = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"  {name}: {row['images_per_s']} img/s, peak RSS {row['peak_rss_mb']} MiB", flush=True)
    load_after = os.getloadavg()[0]

    print(f"\n{'config':<22} {'input':>5} {'grid':>4} {'params M':>8} {'step s':>7} {'img/s':>6} {'peak RSS MiB':>12}")
    for r in rows:
        print(f"{r['config']:<22} {r['input_size']:>5} {r['grid']:>4} {r['params_m']:>8.2f} {r['step_s_median']:>7.2f} "
              f"{r['images_per_s']:>6.1f} {r['peak_rss_mb']:>12.0f}")
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after; {os.cpu_count()} CPUs, "
          f"{args.threads} torch threads")

    import torch

    from pipnet106.fileio import atomic_write_json

    result = {
        "benchmark": "train_speed",
        "what": "forward + PIPNet loss + backward + Adam step on a fixed random batch (no data loading), "
                "median of the timed steps; peak RSS of a fresh process per configuration",
        "batch": args.batch, "warmup_steps": args.warmup, "max_timed_steps": args.steps, "budget_s": args.budget,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": platform.processor() or platform.machine(),
        "load_average_1min_before": round(load_before, 2), "load_average_1min_after": round(load_after, 2),
        "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
        "total_seconds": round(time.perf_counter() - t0, 1),
        "rows": rows,
    }
    atomic_write_json(Path(args.out), result)
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
