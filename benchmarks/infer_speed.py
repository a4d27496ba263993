"""Landmark inference speed on CPU: PyTorch vs onnxruntime, per face.

For each network (mobilenet_v2 at widths 320/640/1280, resnet18; inputs 128 and 256)
a randomly initialised checkpoint is exported with `pipnet106.deploy.export` and timed on
random uint8 crops through the two backends (`TorchBackend`, `OnnxBackend`) at batch 1
and 8 with 1 and 2 threads. Weights do not change the speed, so no training is needed.

"ort bare" is the network alone (float NCHW input, the five PIPNet maps out) in
onnxruntime; "ort" minus "ort bare" is what preprocessing + decoding inside the
exported graph cost, less what it saves by evaluating the offset heads only at
each landmark's best cell (`decode.Decoder.at_cells`): it can be negative.

Numbers are milliseconds per face: median over --repeats calls after --warmup calls,
divided by the batch size. The machine's load average is recorded beside them, since
anything else running on the CPU slows every column.

    .venv/bin/python benchmarks/infer_speed.py            # full table -> results/infer_speed.json
    .venv/bin/python benchmarks/infer_speed.py --quick    # small subset -> results/infer_speed_quick.json
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from pipnet106.infer.backends import OnnxBackend, TorchBackend  # noqa: E402
from pipnet106.infer.bench import median_ms  # noqa: E402
from pipnet106.models.checkpoint import make_checkpoint  # noqa: E402
from pipnet106.config import Config  # noqa: E402
from pipnet106.deploy.export import TORCHSCRIPT_EXPORTER, export_checkpoint  # noqa: E402
from pipnet106.fileio import atomic_torch_save, atomic_write_json  # noqa: E402
from pipnet106.data.meanface import neighbors  # noqa: E402
from pipnet106.models import build_model, count_flops, count_params  # noqa: E402
from pipnet106.synth.faces import template  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

# (label, config overrides, input sizes)
FULL = [
    ("mobilenet_v2 w320", dict(backbone="mobilenet_v2", width=320), (128, 256)),
    ("mobilenet_v2 w640", dict(backbone="mobilenet_v2", width=640), (128, 256)),
    ("mobilenet_v2 w1280", dict(backbone="mobilenet_v2", width=1280), (128, 256)),
    ("resnet18", dict(backbone="resnet18"), (128, 256)),
]
QUICK = [
    ("mobilenet_v2 w320", dict(backbone="mobilenet_v2", width=320), (128,)),
    ("resnet18", dict(backbone="resnet18"), (128,)),
]


def bare_session(model: torch.nn.Module, size: int, threads: int):
    """The network alone (no preprocessing, no decoding) in onnxruntime."""
    import onnxruntime as ort

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(2, 3, size, size),), buf, **TORCHSCRIPT_EXPORTER, opset_version=17,
                          input_names=["x"], output_names=["score", "off_x", "off_y", "nb_x", "nb_y"],
                          dynamic_axes={"x": {0: "batch"}})
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
    return sess, len(buf.getvalue())


def bench_one(label: str, overrides: dict, size: int, batches, threads_list, args, tmp: Path) -> list[dict]:
    cfg = Config.from_dict({**overrides, "input_size": size})
    torch.manual_seed(0)
    model = build_model(cfg, warn_scratch=False).eval()
    params, flops = count_params(model), count_flops(model, size)
    mf = template()
    ck = tmp / f"{label.replace(' ', '_')}_{size}.pt"
    atomic_torch_save(ck, make_checkpoint(model, cfg, mf, neighbors(mf, cfg.num_nb)))
    rep = export_checkpoint(ck, ck.with_suffix(".onnx"))
    torch_be = TorchBackend.from_checkpoint(ck)
    rng = np.random.default_rng(0)
    rows = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        ort_be = OnnxBackend(rep.path, threads=threads)
        bare, bare_bytes = bare_session(model, size, threads)
        for batch in batches:
            crops = rng.integers(0, 256, size=(batch, size, size, 3), dtype=np.uint8)
            x = np.random.default_rng(1).standard_normal((batch, 3, size, size)).astype(np.float32)
            t_torch = median_ms(lambda: torch_be(crops), args.repeats, args.warmup) / 1000
            t_ort = median_ms(lambda: ort_be(crops), args.repeats, args.warmup) / 1000
            t_bare = median_ms(lambda: bare.run(None, {"x": x}), args.repeats, args.warmup) / 1000
            row = {
                "model": label, "backbone": cfg.backbone, "width": int(model.backbone.out_channels),
                "input_size": size, "net_stride": cfg.net_stride, "batch": batch, "threads": threads,
                "params": params, "flops": flops,
                "torch_ms": 1e3 * t_torch / batch, "ort_ms": 1e3 * t_ort / batch, "ort_bare_ms": 1e3 * t_bare / batch,
                "onnx_bytes": rep.size_bytes, "onnx_bare_bytes": bare_bytes,
            }
            row["decode_overhead_ms"] = row["ort_ms"] - row["ort_bare_ms"]
            rows.append(row)
            print(f"  {label} @{size} batch {batch} threads {threads}: torch {row['torch_ms']:.2f} ms, "
                  f"ort {row['ort_ms']:.2f} ms, ort bare {row['ort_bare_ms']:.2f} ms per face", file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    head = ("| model | input | params | GFLOPs | batch | threads | torch ms/face | ort ms/face | "
            "ort bare ms/face | pre+decode ms/face | onnx MB |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r['model']} | {r['input_size']} | {r['params'] / 1e6:.2f}M | {r['flops'] / 1e9:.3f} | "
                     f"{r['batch']} | {r['threads']} | {r['torch_ms']:.2f} | {r['ort_ms']:.2f} | "
                     f"{r['ort_bare_ms']:.2f} | {r['decode_overhead_ms']:+.2f} | {r['onnx_bytes'] / 1e6:.2f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="mobilenet_v2 w320 and resnet18 at 128 only, fewer repeats")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=None, help="timed calls per cell (default 30, quick 10)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 5, quick 3)")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON output (default results/infer_speed.json, quick: results/infer_speed_quick.json)")
    args = ap.parse_args()
    args.repeats = args.repeats or (10 if args.quick else 30)
    args.warmup = args.warmup or (3 if args.quick else 5)
    out = args.out or RESULTS / ("infer_speed_quick.json" if args.quick else "infer_speed.json")
    import onnxruntime

    env = {"python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
           "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
           "loadavg_before": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, overrides, sizes in (QUICK if args.quick else FULL):
            for size in sizes:
                rows += bench_one(label, overrides, size, args.batches, args.threads, args, Path(tmp))
    env["loadavg_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    print(table(rows))
    print(f"\nload average before/after: {env['loadavg_before']} / {env['loadavg_after']} "
          f"on {env['cpu_count']} CPUs (other work on the CPU slows every column)")
    atomic_write_json(out, {"env": env, "quick": args.quick, "repeats": args.repeats, "warmup": args.warmup,
                            "rows": rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
