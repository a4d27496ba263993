"""Phone runtimes against the ONNX file: parity on held-out faces, ms/face, file sizes.

The shipped starter checkpoint is exported by `pipnet106 export` to ONNX (float32, the
reference) and to every phone format the installed converters offer (ncnn fp32/fp16,
LiteRT fp32/fp16/int8, Core ML fp32/fp16), then each file runs through its backend
(`infer.mobile_backends`: ncnn's and LiteRT's own Python interpreters) on held-out crops:

- parity: distance of each point from the ONNX file's, in % of the face's inter-ocular
  distance (outer eye corners 66 and 79): max, mean, 99th percentile, and the max over
  points whose best cells win by 0.002 or more (`Decoder.steady`; elsewhere any two runtimes
  may pick either of two nearly equal cells);
- speed: ms per face at batch 1 (one face per call, as an app runs them) with 1 and 2
  threads, every file timed round-robin in the same loop (`bench.race`) so ratios are fair
  on a shared machine; the shipped starter.onnx (float16 weights) and starter_int8.onnx are
  timed beside them. Core ML needs macOS: size only. A shared machine: run it with
  OMP_NUM_THREADS=1 (the reference decoding in torch stays on one core; the backends set
  their own thread counts).

Held-out crops: the test lists of prepared pools (`pipnet106 prepare`, faces the starter was
not trained on) under --data (default /work/data/prep, pools lfw, utk, mebeauty, cuhk, aaf,
webmorph, prima, --per-pool each); int8 calibrates on --calib's training list.

    OMP_NUM_THREADS=1 .venv-mobile/bin/python benchmarks/mobile_runtimes.py   # -> results/mobile_runtimes.json
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from pipnet106.constants import STARTER_INT8_ONNX, STARTER_ONNX, STARTER_PT  # noqa: E402
from pipnet106.deploy.export import export_checkpoint  # noqa: E402
from pipnet106.deploy.mobile import PRECISIONS, SUFFIX, export_mobile  # noqa: E402
from pipnet106.deploy.quantize import calibration_crops  # noqa: E402
from pipnet106.errors import UserError  # noqa: E402
from pipnet106.fileio import atomic_write_json  # noqa: E402
from pipnet106.infer.backends import load_backend  # noqa: E402
from pipnet106.infer.bench import race  # noqa: E402
from pipnet106.models.checkpoint import load_model  # noqa: E402
from pipnet106.models.inference import InferenceModule  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
POOLS = ("lfw", "utk", "mebeauty", "cuhk", "aaf", "webmorph", "prima")
STEADY_MARGIN = 2e-3


def held_out_crops(data: Path, per_pool: int) -> tuple[np.ndarray, dict[str, int]]:
    crops, counts = [], {}
    for pool in POOLS:
        if (data / pool / "test.txt").is_file():
            c = calibration_crops(data / pool, 128, 106, count=per_pool, list_name="test.txt")
            crops.append(c)
            counts[pool] = len(c)
    if not crops:
        raise SystemExit(f"{data}: no prepared pool with a test.txt ({', '.join(POOLS)})")
    return np.concatenate(crops), counts


def export_all(tmp: Path, calib: Path | None, calib_count: int) -> dict[str, dict]:
    """label -> {path, size, runtime, precision} for every file the installed converters can make."""
    files = {}
    ref = tmp / "starter_fp32.onnx"
    rep = export_checkpoint(STARTER_PT, ref)
    files["onnx fp32 (reference)"] = {"path": ref, "size": rep.size_bytes, "runtime": "onnxruntime", "precision": "fp32"}
    files["onnx fp16 weights (shipped)"] = {"path": STARTER_ONNX, "size": STARTER_ONNX.stat().st_size,
                                            "runtime": "onnxruntime", "precision": "fp16"}
    if STARTER_INT8_ONNX.is_file():
        files["onnx int8 (shipped)"] = {"path": STARTER_INT8_ONNX, "size": STARTER_INT8_ONNX.stat().st_size,
                                        "runtime": "onnxruntime", "precision": "int8"}
    for runtime in ("ncnn", "tflite", "coreml"):
        for precision in PRECISIONS[runtime]:
            if precision == "int8" and calib is None:
                continue
            out = tmp / f"starter_{runtime}_{precision}{SUFFIX[runtime]}"
            try:
                r = export_mobile(STARTER_PT, out, runtime, precision, calib, calib_count)
            except UserError as e:  # converter not installed
                print(f"skip {runtime} {precision}: {e}")
                continue
            files[f"{runtime} {precision}"] = {"path": out, "size": r.size_bytes, "runtime": runtime,
                                               "precision": precision, "decoding": r.decoding,
                                               "input_format": r.input_format}
    return files


def parity(files: dict, crops: np.ndarray) -> None:
    module = InferenceModule.from_loaded(load_model(STARTER_PT))
    with torch.inference_mode():
        score = module.model(module.preprocess(torch.from_numpy(crops)), offsets=False)[0]
    steady = module.decoder.steady(score, STEADY_MARGIN).numpy()
    ref = load_backend(files["onnx fp32 (reference)"]["path"], threads=1)(crops)[0]
    iod = np.linalg.norm(ref[:, 66] - ref[:, 79], axis=-1)
    for label, f in files.items():
        if f["runtime"] == "coreml":
            f["parity"] = "needs macOS"
            continue
        pts = load_backend(f["path"], threads=1)(crops)[0]
        d = np.linalg.norm(pts - ref, axis=-1) / iod[:, None] * 100
        f["parity"] = {"max": float(d.max()), "mean": float(d.mean()), "p99": float(np.percentile(d, 99)),
                       "max_steady": float(d[steady].max()), "steady_share": float(steady.mean()),
                       "points_over_1pct": int((d > 1).sum())}


def speed(files: dict, crops: np.ndarray, threads: int, repeats: int) -> None:
    fns = {}
    for label, f in files.items():
        if f["runtime"] == "coreml":
            continue
        backend = load_backend(f["path"], threads=threads)
        it = iter(range(10 ** 9))
        fns[label] = (lambda b=backend, it=it: b(crops[next(it) % len(crops)][None]))
    for label, ms in race(fns, repeats=repeats, warmup=5, block=4).items():
        files[label][f"ms_{threads}t"] = ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/data/prep"), help="folder of prepared pools")
    ap.add_argument("--per-pool", type=int, default=150, help="held-out crops per pool (default 150)")
    ap.add_argument("--calib", type=Path, default=Path("/work/data/prep/mix"),
                    help="prepared folder whose training crops calibrate the LiteRT int8 file")
    ap.add_argument("--calib-count", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=120, help="timed calls per file and thread count")
    ap.add_argument("--out", type=Path, default=RESULTS / "mobile_runtimes.json")
    args = ap.parse_args()
    crops, counts = held_out_crops(args.data, args.per_pool)
    calib = args.calib if (args.calib / "train.txt").is_file() else None
    with tempfile.TemporaryDirectory() as tmp:
        files = export_all(Path(tmp), calib, args.calib_count)
        parity(files, crops)
        for threads in (1, 2):
            speed(files, crops, threads, args.repeats)
    print(f"{len(crops)} held-out faces ({', '.join(f'{k} {v}' for k, v in counts.items())}); parity in % of the "
          f"inter-ocular distance vs the float32 ONNX file; ms/face at batch 1")
    head = f"{'file':28s} {'MB':>6s} {'max':>7s} {'mean':>7s} {'p99':>6s} {'max@steady':>10s} {'1 thr':>7s} {'2 thr':>7s}"
    print(head)
    for label, f in files.items():
        p = f["parity"]
        cols = (f"{p['max']:7.3f} {p['mean']:7.4f} {p['p99']:6.3f} {p['max_steady']:10.3f}" if isinstance(p, dict)
                else f"{p:>34s}")
        ms = " ".join(f"{f[k]:7.2f}" if k in f else f"{'-':>7s}" for k in ("ms_1t", "ms_2t"))
        print(f"{label:28s} {f['size'] / 1e6:6.2f} {cols} {ms}")
    rows = {label: {k: (str(v.name) if isinstance(v, Path) else v) for k, v in f.items()} for label, f in files.items()}
    atomic_write_json(args.out, {"faces": int(len(crops)), "pools": counts, "steady_margin": STEADY_MARGIN,
                                 "files": rows, "cpu": platform.processor() or platform.machine(),
                                 "cores": os.cpu_count(), "load_average": os.getloadavg()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
