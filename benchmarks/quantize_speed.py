"""Which int8 configuration pays on this CPU: speed and NME change against the float export.

For the starter model (input 128) and the same weights run at input 256 (speed, and the
quantization error on 256-px crops; not a trained 256 model), each onnxruntime static
quantization setting (`pipnet106.deploy.quantize.QuantSettings`) is calibrated on a prepared folder and
raced against the float32 export (and the float16-storage export) in one round-robin
(`bench.race`), at batch 1 and 8 on --threads threads. NME is measured with `eval`'s own
ONNX path (`evaluate.predict_backend`) on every --eval folder; the change is in NME points
(percent of the outer-eye distance).

    python benchmarks/quantize_speed.py --calib128 DATA128 --calib256 DATA256 \\
        --eval128 EVAL_A EVAL_B --eval256 EVAL_256        # -> results/quantize_speed.json
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pipnet106.infer.backends import OnnxBackend  # noqa: E402
from pipnet106.infer.bench import race  # noqa: E402
from pipnet106.config import Config  # noqa: E402
from pipnet106.data.dataset import LandmarkDataset  # noqa: E402
from pipnet106.train.evaluate import nme, predict_backend  # noqa: E402
from pipnet106.fileio import atomic_write_json  # noqa: E402
from pipnet106.deploy.quantize import QuantSettings, calibration_crops, quantize_onnx  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
from pipnet106.constants import STARTER_PT as STARTER  # noqa: E402

BASE = QuantSettings()
VARIANTS = {
    "conv only, no preproc (first try)": replace(BASE, ops=("Conv",), pre_process=False),
    "default": BASE,
    "S8S8": replace(BASE, activations="s8"),
    "QOperator": replace(BASE, format="qoperator"),
    "per-tensor": replace(BASE, per_channel=False),
    "reduce_range": replace(BASE, reduce_range=True),
    "Conv only": replace(BASE, ops=("Conv",)),
    "+heads": replace(BASE, heads=True),
    "entropy": replace(BASE, calibrate="entropy"),
    "percentile": replace(BASE, calibrate="percentile"),
    "no quant_pre_process": replace(BASE, pre_process=False),
}


def checkpoint_at(size: int, tmp: Path) -> Path:
    """The starter's weights with input_size `size` (same architecture and stride)."""
    import torch

    from pipnet106.models.checkpoint import load_model, make_checkpoint

    lm = load_model(STARTER)
    if lm.cfg.input_size == size:
        return STARTER
    cfg = replace(lm.cfg, input_size=size)
    path = tmp / f"starter_at_{size}.pt"
    torch.save(make_checkpoint(lm.model.float(), cfg, lm.meanface, lm.nb), path)
    return path


def eval_nme(path: Path, folders: list[str], size: int) -> dict[str, float]:
    be = OnnxBackend(path, threads=2)
    out = {}
    for f in folders:
        cfg = Config.from_dict({"input_size": size, "layout": be.layout.name})
        ds = LandmarkDataset(f, "test.txt", cfg, be.layout, np.zeros((be.num_points, 0), np.int64), train=False)
        pred, _, gt = predict_backend(be, ds, 32)
        out[f] = float(nme(pred, gt, be.layout).mean() * 100)
    return out


def run_size(size: int, calib: str, evals: list[str], variants: dict, args, tmp: Path) -> list[dict]:
    from pipnet106.deploy.export import export_checkpoint

    ck = checkpoint_at(size, tmp)
    fp32, fp16 = tmp / f"fp32_{size}.onnx", tmp / f"fp16_{size}.onnx"
    export_checkpoint(ck, fp32)
    export_checkpoint(ck, fp16, fp16_weights=True)
    crops = calibration_crops(calib, size, 106, args.count)
    files = {"fp32": fp32, "fp16 storage": fp16}
    reports = {}
    for name, s in variants.items():
        path = tmp / f"int8_{size}_{len(files)}.onnx"
        print(f"[{size}] quantizing: {name} ({s.label()})", file=sys.stderr)
        reports[name] = quantize_onnx(fp32, path, crops, s)
        files[name] = path
    nmes = {k: eval_nme(p, evals, size) for k, p in files.items()}
    rows = []
    rng = np.random.default_rng(0)
    for threads in args.threads:
        bes = {k: OnnxBackend(p, threads=threads) for k, p in files.items()}
        for batch in args.batches:
            x = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
            fns = {k: (lambda be=be: be(x)) for k, be in bes.items()}
            ms = race(fns, args.repeats, args.warmup, block=args.block)
            for k in files:
                row = {"input_size": size, "threads": threads, "batch": batch, "model": k,
                       "settings": reports[k]["settings"] if k in reports else k,
                       "ms_per_face": ms[k] / batch, "speedup_vs_fp32": ms["fp32"] / ms[k],
                       "nme": nmes[k], "nme_change": {f: nmes[k][f] - nmes["fp32"][f] for f in evals},
                       "mean_point_shift": reports[k]["mean_point_shift"] if k in reports else None,
                       "size_bytes": files[k].stat().st_size}
                rows.append(row)
                print(f"  {size} t{threads} b{batch} {k:36s} {row['ms_per_face']:7.2f} ms/face "
                      f"x{row['speedup_vs_fp32']:.2f}  dNME " +
                      " ".join(f"{v:+.3f}" for v in row["nme_change"].values()), file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    evals = sorted({f for r in rows for f in r["nme_change"]})
    head = ("| input | threads | batch | model | ms/face | vs fp32 | "
            + " | ".join(f"ΔNME {Path(f).name}" for f in evals) + " |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        d = " | ".join(f"{r['nme_change'][f]:+.3f}" if f in r["nme_change"] else "" for f in evals)
        lines.append(f"| {r['input_size']} | {r['threads']} | {r['batch']} | {r['model']} | {r['ms_per_face']:.2f} | "
                     f"{r['speedup_vs_fp32']:.2f}x | {d} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calib128", required=True, help="prepared folder (128 crops) for calibration")
    ap.add_argument("--calib256", default=None, help="prepared folder (256 crops); omit to skip input 256")
    ap.add_argument("--eval128", nargs="+", required=True, help="prepared folders whose test.txt measures NME")
    ap.add_argument("--eval256", nargs="*", default=[])
    ap.add_argument("--variants", nargs="*", default=None, help=f"subset of: {', '.join(VARIANTS)}")
    ap.add_argument("--count", type=int, default=300, help="calibration crops")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--block", type=int, default=4, help="calls per turn in the round-robin (first untimed)")
    ap.add_argument("--out", type=Path, default=RESULTS / "quantize_speed.json")
    args = ap.parse_args()
    variants = {k: VARIANTS[k] for k in (args.variants or VARIANTS)}
    import onnxruntime

    env = {"python": platform.python_version(), "onnxruntime": onnxruntime.__version__, "cpu_count": os.cpu_count(),
           "loadavg_before": list(os.getloadavg())}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += run_size(128, args.calib128, args.eval128, variants, args, Path(tmp))
        if args.calib256:
            rows += run_size(256, args.calib256, args.eval256, variants, args, Path(tmp))
    env["loadavg_after"] = list(os.getloadavg())
    atomic_write_json(args.out, {"env": env, "rows": rows})
    print(table(rows))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
