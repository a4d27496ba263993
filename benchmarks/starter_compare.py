"""ms/face of several exported models, interleaved in one run (batch 1, 2 threads by default).

The machine is shared and noisy, so the models take turns (A, B, A, B, ...) and the table gives
medians and the ratio to the first model; compare only rows of the same run.

    python benchmarks/starter_compare.py v1=src/pipnet106/assets/starter.onnx v2=v2.onnx [--threads 2]
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from pipnet106.fileio import atomic_write_json


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+", help="name=model.onnx")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--json", default="benchmarks/results/starter_compare.json")
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    runs = {}
    for spec in a.models:
        name, path = spec.split("=", 1)
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        size = int(inp.shape[1])
        x = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
        for _ in range(10):
            sess.run(None, {inp.name: x})
        runs[name] = (sess, inp.name, x, size, Path(path).stat().st_size)
    times = {n: [] for n in runs}
    for _ in range(a.repeats):
        for n, (sess, iname, x, _, _) in runs.items():
            t0 = time.perf_counter()
            sess.run(None, {iname: x})
            times[n].append((time.perf_counter() - t0) * 1e3)
    base = statistics.median(times[next(iter(runs))])
    rows = []
    print(f"| model | input | MB | ms/face (median, batch 1, {a.threads} threads) | vs first |")
    print("|---|---|---|---|---|")
    for n, (_, _, _, size, nbytes) in runs.items():
        med = statistics.median(times[n])
        rows.append({"model": n, "input": size, "mb": round(nbytes / 1e6, 2), "ms_per_face": round(med, 3),
                     "ratio": round(med / base, 3), "threads": a.threads, "repeats": a.repeats})
        print(f"| {n} | {size} | {nbytes / 1e6:.2f} | {med:.2f} | {med / base:.2f}x |")
    atomic_write_json(a.json, rows)


if __name__ == "__main__":
    main()
