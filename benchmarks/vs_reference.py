"""Race against the PIPNet authors' code path, plus decoding and loss parity.

    python benchmarks/vs_reference.py ../shared/reference/pipnet-ref      # -> results/vs_reference.json

REF_DIR holds the authors' `networks.py`, `functions.py` and `meanface_lapa.txt` (MIT,
unchanged). They are loaded from that folder with importlib at run time, only here; the package
never imports them.

Speed: for MobileNetV2 at widths 1280/640/320 and inputs 256/128 (stride 32, 10 neighbours, 106
points) one set of random weights is put in both their `Pip_mbnetv2` (their heads resized to the
width) and our model, so both compute the same function. Their path, per face at batch 1 (their
`forward_pip` asserts batch 1): a ready normalized float tensor -> network -> `forward_pip` ->
the neighbour merge of their `lib/demo.py`, in PyTorch. Ours: the whole pipeline from a photo and
a box (crop with the training rule -> ONNX graph with preprocessing, network and decoding -> points
mapped back to the photo), ONNX float32 and int8, batch 1 and 8. All contenders run round-robin
in one loop (`bench.race`) on --threads threads; the ratios are what to read.

Parity: identical five output maps go to their `forward_pip` + merge and to our `Decoder`; the
largest point difference is reported, and again against their merge with the padding of their
reverse index removed (their padding repeats some neighbours, so those count twice in the mean;
ours averages each neighbour once). Loss: their `compute_loss_pip` (MSE + L1, weights 10 and 1 as
in their configs) against our `loss.pip_loss` on identical maps and targets.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from pipnet106.infer.bench import race  # noqa: E402
from pipnet106.models.checkpoint import make_checkpoint  # noqa: E402
from pipnet106.config import Config  # noqa: E402
from pipnet106.crop import crop_from_points  # noqa: E402
from pipnet106.models.decode import Decoder  # noqa: E402
from pipnet106.deploy.export import export_checkpoint  # noqa: E402
from pipnet106.models.pipnet import lifelike_init_  # noqa: E402
from pipnet106.fileio import atomic_write_json  # noqa: E402
from pipnet106.models.loss import pip_loss  # noqa: E402
from pipnet106.models import build_model  # noqa: E402
from pipnet106.synth.faces import render_face  # noqa: E402
from pipnet106.data.targets import encode  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
NUM_NB = 10


def load_reference(ref_dir: Path) -> tuple[types.ModuleType, types.ModuleType]:
    """Their networks.py and functions.py as modules, from REF_DIR (not on sys.path afterwards)."""
    try:
        import scipy.integrate as si
        if not hasattr(si, "simps"):
            si.simps = si.simpson  # removed in recent SciPy; functions.py imports it at the top
    except ImportError:  # no SciPy here: functions.py only needs the name for its AUC helper
        fake = types.ModuleType("scipy.integrate")
        fake.simps = lambda *a, **k: float("nan")
        sys.modules.setdefault("scipy", types.ModuleType("scipy"))
        sys.modules["scipy.integrate"] = fake
    mods = []
    for name in ("networks", "functions"):
        path = ref_dir / f"{name}.py"
        if not path.is_file():
            raise SystemExit(f"{path}: not found (REF_DIR must hold the authors' networks.py and functions.py)")
        spec = importlib.util.spec_from_file_location(f"pipnet_ref_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods.append(mod)
    return mods[0], mods[1]


def their_net(networks, ours: nn.Module, size: int) -> nn.Module:
    """Their Pip_mbnetv2 computing exactly our model's function (same features, heads at our width)."""
    import torchvision

    net = networks.Pip_mbnetv2(torchvision.models.mobilenet_v2(weights=None), NUM_NB, num_lms=106,
                               input_size=size, net_stride=32)
    net.features = ours.backbone.features
    for name in ("cls_layer", "x_layer", "y_layer", "nb_x_layer", "nb_y_layer"):
        setattr(net, name, getattr(ours, name))
    return net.eval()


def their_merge(functions, net, x, size: int, rev1, rev2, max_len: int) -> torch.Tensor:
    """forward_pip + the neighbour merge of their lib/demo.py -> (106, 2) normalized points."""
    px, py, nbx, nby, _, _ = functions.forward_pip(net, x, None, size, 32, NUM_NB)
    tx = nbx[rev1, rev2].view(106, max_len)
    ty = nby[rev1, rev2].view(106, max_len)
    mx = torch.mean(torch.cat((px, tx), dim=1), dim=1).view(-1, 1)
    my = torch.mean(torch.cat((py, ty), dim=1), dim=1).view(-1, 1)
    return torch.cat((mx, my), dim=1)


def synthetic_photo(seed: int = 0):
    """A 640x480 synthetic photo with one face and its true points (for crops and boxes)."""
    rng = np.random.default_rng(seed)
    image, pts = render_face(rng, 640, 480)
    return image, pts


def race_one(width: int, size: int, networks, functions, meanface_path: Path, args, tmp: Path) -> list[dict]:
    from pipnet106.infer.backends import OnnxBackend
    from pipnet106.infer.landmarker import Landmarker
    from pipnet106.deploy.quantize import QuantSettings, quantize_onnx

    meanface_idx, rev1, rev2, max_len = functions.get_meanface(str(meanface_path), NUM_NB)
    nb = np.asarray(meanface_idx, dtype=np.int64)
    mf = np.loadtxt(meanface_path).reshape(-1, 2)
    cfg = Config.from_dict({"backbone": "mobilenet_v2", "width": width, "input_size": size, "net_stride": 32,
                            "num_nb": NUM_NB})
    torch.manual_seed(0)
    model = build_model(cfg, warn_scratch=False)
    lifelike_init_(model, size)
    ck = tmp / f"w{width}_{size}.pt"
    torch.save(make_checkpoint(model, cfg, mf, nb), ck)
    fp32 = export_checkpoint(ck, tmp / f"w{width}_{size}.onnx").path
    image, pts = synthetic_photo(width + size)
    crops = np.stack([crop_from_points(pts + 1.5 * k, size).apply(image)  # the training crop (default enlargement)
                      for k in range(-8, 8)])
    int8 = Path(quantize_onnx(fp32, tmp / f"w{width}_{size}_int8.onnx", crops, QuantSettings())["path"])
    net = their_net(networks, model, size)
    x1 = torch.from_numpy(crops[:1, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x1 = ((x1 - mean) / std).contiguous()
    rows = []
    box = np.r_[pts.min(0), pts.max(0)]
    for threads in args.threads:
        torch.set_num_threads(threads)
        lms = {k: Landmarker(OnnxBackend(p, threads=threads), detector=None, refine=0)
               for k, p in (("fp32", fp32), ("int8", int8))}
        fns = {"theirs b1": lambda: their_merge(functions, net, x1, size, rev1, rev2, max_len)}
        for b in args.batches:
            boxes = np.repeat(box[None], b, axis=0)
            for k, lm in lms.items():
                fns[f"ours {k} b{b}"] = (lambda lm=lm, boxes=boxes: lm.landmarks_for_boxes(image, boxes, refine=0))
        with torch.inference_mode():
            ms = race(fns, args.repeats, args.warmup, block=args.block)
        ref = ms["theirs b1"]
        for k, v in ms.items():
            b = 1 if k.endswith("b1") else int(k.rsplit("b", 1)[1])
            rows.append({"width": width, "input_size": size, "threads": threads, "path": k, "batch": b,
                         "ms_per_face": v / b, "speedup_vs_theirs": ref / (v / b)})
            print(f"  w{width} @{size} t{threads} {k:14s} {v / b:7.2f} ms/face  x{ref / (v / b):.2f}",
                  file=sys.stderr)
    return rows


def decoding_parity(functions, meanface_path: Path, grids=(4, 8), trials: int = 20) -> dict:
    """Identical maps -> their forward_pip + merge vs our Decoder; largest point difference (crop fraction)."""
    meanface_idx, rev1, rev2, max_len = functions.get_meanface(str(meanface_path), NUM_NB)
    nb = np.asarray(meanface_idx, dtype=np.int64)
    ours = Decoder.from_neighbors(nb)
    # their reverse lists without the padding: each neighbour once (what our masked index computes)
    lists = [[] for _ in range(106)]
    for i in range(106):
        for j in range(NUM_NB):
            lists[nb[i, j]].append((i, j))
    g = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    mf = np.loadtxt(meanface_path).reshape(-1, 2)
    worst, worst_unpadded = {"random": 0.0, "face_like": 0.0}, 0.0
    mean_diff = {"random": [], "face_like": []}
    for grid in grids:
        size = grid * 32

        class Maps(nn.Module):
            def forward(self, x):
                return self.maps

        for t in range(2 * trials):
            if t < trials:  # arbitrary maps: neighbours disagree wildly (worst case for the weighting)
                maps = (torch.rand(1, 106, grid, grid, generator=g), torch.rand(1, 106, grid, grid, generator=g),
                        torch.rand(1, 106, grid, grid, generator=g),
                        torch.randn(1, 106 * NUM_NB, grid, grid, generator=g) + 0.5,
                        torch.randn(1, 106 * NUM_NB, grid, grid, generator=g) + 0.5)
            else:  # face-like maps: a face near the mean shape, neighbour predictions off by ~0.1 cell
                maps = face_like_maps(mf, nb, grid, rng)
            fake = Maps()
            fake.maps = maps
            theirs = their_merge(functions, fake, None, size, rev1, rev2, max_len).numpy()
            with torch.no_grad():
                mine = ours(*maps)[0][0].numpy()
            key = "random" if t < trials else "face_like"
            worst[key] = max(worst[key], float(np.abs(theirs - mine).max()))
            mean_diff[key].append(float(np.abs(theirs - mine).mean()))
            px, py, nbx, nby, _, _ = functions.forward_pip(fake, None, None, size, 32, NUM_NB)
            own = torch.cat((px, py), 1).numpy()
            nbp = torch.stack((nbx, nby), -1).numpy()  # (106, K, 2)
            unpadded = np.stack([(own[i] + sum(nbp[a, s] for a, s in lists[i])) / (1 + len(lists[i]))
                                 for i in range(106)])
            worst_unpadded = max(worst_unpadded, float(np.abs(unpadded - mine).max()))
    counts = np.array([len(v) for v in lists])
    return {"grids": list(grids), "trials_per_grid": trials, "max_abs_diff": worst,
            "mean_abs_diff": {k: float(np.mean(v)) for k, v in mean_diff.items()},
            "max_abs_diff_vs_unpadded_merge": worst_unpadded, "reverse_len_max": int(max_len),
            "reverse_len_min": int(counts.min()), "landmarks_with_padding": int((counts < max_len).sum())}


def face_like_maps(mf: np.ndarray, nb: np.ndarray, grid: int, rng: np.random.Generator) -> tuple:
    """Five maps as a trained PIPNet gives them for a face near the mean shape: a peak at each
    landmark's cell, offsets and neighbour offsets right up to noise (0.05 / 0.1 cell)."""
    pts = np.clip(mf + rng.normal(0, 0.02, mf.shape), 0.01, 0.99)
    t = encode(pts, np.ones(len(pts), bool), grid, nb)
    gg, n = grid * grid, len(pts)
    score = rng.uniform(0, 0.2, (n, gg))
    score[np.arange(n), t["cell"]] = rng.uniform(0.6, 1.0, n)
    ox = t["offset"][:, 0, None] + rng.normal(0, 0.05, (n, gg))
    oy = t["offset"][:, 1, None] + rng.normal(0, 0.05, (n, gg))
    nx = t["nb_offset"][..., 0].reshape(-1, 1) + rng.normal(0, 0.1, (n * NUM_NB, gg))
    ny = t["nb_offset"][..., 1].reshape(-1, 1) + rng.normal(0, 0.1, (n * NUM_NB, gg))
    return tuple(torch.from_numpy(a.astype(np.float32)).view(1, -1, grid, grid) for a in (score, ox, oy, nx, ny))


def loss_parity(functions, meanface_path: Path, grid: int = 8, batch: int = 4) -> dict:
    meanface_idx, _, _, _ = functions.get_meanface(str(meanface_path), NUM_NB)
    nb = np.asarray(meanface_idx, dtype=np.int64)
    mf = np.loadtxt(meanface_path).reshape(-1, 2)
    rng = np.random.default_rng(0)
    g = torch.Generator().manual_seed(1)
    enc = [encode(np.clip(mf + rng.normal(0, 0.03, mf.shape), 0.01, 0.99), np.ones(106, bool), grid, nb)
           for _ in range(batch)]
    tg = {k: torch.from_numpy(np.stack([e[k] for e in enc])) for k in enc[0]}
    outs = (torch.rand(batch, 106, grid, grid, generator=g), torch.rand(batch, 106, grid, grid, generator=g),
            torch.rand(batch, 106, grid, grid, generator=g), torch.randn(batch, 106 * NUM_NB, grid, grid, generator=g),
            torch.randn(batch, 106 * NUM_NB, grid, grid, generator=g))
    # their label maps from the same targets: one-hot score, offsets written at the (owner's) cell
    gg = grid * grid
    lab_map = torch.zeros(batch, 106, gg)
    lab_x, lab_y = torch.zeros(batch, 106, gg), torch.zeros(batch, 106, gg)
    lab_nx, lab_ny = torch.zeros(batch, 106 * NUM_NB, gg), torch.zeros(batch, 106 * NUM_NB, gg)
    for b in range(batch):
        for i in range(106):
            c = int(tg["cell"][b, i])
            lab_map[b, i, c] = 1
            lab_x[b, i, c], lab_y[b, i, c] = tg["offset"][b, i]
            for j in range(NUM_NB):
                lab_nx[b, i * NUM_NB + j, c], lab_ny[b, i * NUM_NB + j, c] = tg["nb_offset"][b, i, j]
    shape = lambda t: t.view(batch, -1, grid, grid)  # noqa: E731
    lm, lx, ly, lnx, lny = functions.compute_loss_pip(*outs, shape(lab_map), shape(lab_x), shape(lab_y), shape(lab_nx),
                                                       shape(lab_ny), nn.MSELoss(), nn.L1Loss(), NUM_NB)
    theirs_total = float(10 * lm + 1 * (lx + ly + lnx + lny))
    total, parts = pip_loss(outs, tg, cls_weight=10.0, reg_weight=1.0)
    return {"theirs_total": theirs_total, "ours_total": float(total), "abs_diff": abs(theirs_total - float(total)),
            "theirs": {"score": float(lm), "offset": float(lx + ly), "nb": float(lnx + lny)},
            "ours": {k: float(v) for k, v in parts.items()}}


def table(rows: list[dict]) -> str:
    head = "| width | input | threads | path | batch | ms/face | speed-up vs theirs |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['width']} | {r['input_size']} | {r['threads']} | {r['path'].rsplit(' ', 1)[0]} | "
                     f"{r['batch']} | {r['ms_per_face']:.2f} | {r['speedup_vs_theirs']:.2f}x |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ref_dir", type=Path, help="folder with the authors' networks.py, functions.py, meanface_lapa.txt")
    ap.add_argument("--widths", type=int, nargs="+", default=[1280, 640, 320])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, nargs="+", default=[1],
                    help="threads for both sides (default 1: on a loaded 2-core machine 2 OpenMP threads stall)")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--block", type=int, default=6, help="calls per turn in the round-robin (first one untimed)")
    ap.add_argument("--out", type=Path, default=RESULTS / "vs_reference.json")
    args = ap.parse_args()
    networks, functions = load_reference(args.ref_dir)
    meanface = args.ref_dir / "meanface_lapa.txt"
    import onnxruntime

    env = {"python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
           "cpu_count": os.cpu_count(), "loadavg_before": list(os.getloadavg())}
    dec = decoding_parity(functions, meanface)
    loss = loss_parity(functions, meanface)
    print(f"decoding parity: max |theirs - ours| = {dec['max_abs_diff']} of the crop side; against their merge "
          f"without index padding {dec['max_abs_diff_vs_unpadded_merge']:.2e}", file=sys.stderr)
    print(f"loss parity: theirs {loss['theirs_total']:.6f}, ours {loss['ours_total']:.6f}", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for width in args.widths:
            for size in args.sizes:
                rows += race_one(width, size, networks, functions, meanface, args, Path(tmp))
    env["loadavg_after"] = list(os.getloadavg())
    atomic_write_json(args.out, {"env": env, "decoding_parity": dec, "loss_parity": loss, "rows": rows})
    print(table(rows))
    print(f"\ndecoding parity: {dec}\nloss parity: {loss}\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
