"""Accuracy: NME, failure rate, AUC, per-region NME, CED plot, worst cases.

`pipnet106 eval --weights best.pt --data prepared_dir` writes a JSON report,
a cumulative-error plot and drawings of the worst images. The same
`predict_loader` and `nme` serve the per-epoch validation in training.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..config import terms_line
from ..errors import UserError
from ..fileio import atomic_write_image, atomic_write_json, atomic_write
from ..layout import Layout, get_layout

WORST_MIN_SIDE = 384
"""Side in pixels of the worst-case drawings (at least; the input size if larger): readable points."""


def nme(pred: np.ndarray, gt: np.ndarray, layout: Layout, norm: str = "outer_eye",
        points: np.ndarray | None = None) -> np.ndarray:
    """Per-sample NME of (M, N, 2) predictions; missing ground truth (NaN) is ignored.

    `points` restricts the mean to a subset of landmark indices (a region); a sample with none of
    them labelled (e.g. the contour of imported 300-W labels) gets NaN, not a perfect 0.
    """
    err = np.linalg.norm(pred - gt, axis=-1)  # (M, N)
    d = layout.norm_distance(gt, norm)        # (M,)
    if np.isnan(d).any():
        raise UserError(f"normalization {norm!r} needs points that are missing in some labels")
    if points is not None:
        err = err[:, points]
    valid = np.isfinite(err)
    count = valid.sum(1)
    per = np.where(valid, err, 0.0).sum(1) / np.maximum(count, 1)
    return np.where(count > 0, per, np.nan) / np.maximum(d, 1e-9)

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # NumPy 2 renamed trapz; 1.x has only trapz


def auc_fr(nmes: np.ndarray, threshold: float = 0.10) -> tuple[float, float]:
    """Area under the cumulative error curve up to `threshold` (normalized to 1) and failure rate."""
    nmes = np.sort(np.asarray(nmes))
    xs = np.linspace(0.0, threshold, 1001)
    ced = np.searchsorted(nmes, xs, side="right") / max(len(nmes), 1)
    return float(_trapezoid(ced, xs) / threshold), float((nmes > threshold).mean())


@torch.no_grad()
def predict_loader(model, decoder, loader: DataLoader, device: torch.device, layout: Layout,
                   flip: bool = False, progress: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run a model over a loader -> (pred (M,N,2), conf (M,N), gt (M,N,2)), all normalized to the crop."""
    model.eval()
    preds, confs, gts = [], [], []
    it = tqdm(loader, desc="eval", unit="batch", leave=False) if progress else loader
    for x, tgt in it:
        x = x.to(device)
        pts, conf = decoder(*model(x)[:5])
        if flip:
            fpts, fconf = decoder(*model(torch.flip(x, dims=[3]))[:5])
            fpts = fpts[:, layout.flip_index]
            fpts = torch.stack([1.0 - fpts[..., 0], fpts[..., 1]], dim=-1)
            pts, conf = (pts + fpts) / 2, (conf + fconf[:, layout.flip_index]) / 2
        preds.append(pts.float().cpu().numpy())
        confs.append(conf.float().cpu().numpy())
        gts.append(tgt["points"].numpy())
    return np.concatenate(preds), np.concatenate(confs), np.concatenate(gts)


def predict_backend(backend, ds, batch_size: int = 32, flip: bool = False, progress: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A landmark backend (e.g. an ONNX export, int8 included) over a dataset's crops, read exactly as
    `LandmarkDataset.load` reads them -> (pred, conf, gt), normalized; missing ground truth is NaN.

    The backend takes the uint8 crops and does its own preprocessing and decoding, so an exported
    file is measured as it runs in `predict`."""
    layout = ds.layout
    preds, confs, gts = [], [], []
    starts = range(0, len(ds), batch_size)
    for s in tqdm(starts, desc="eval", unit="batch", leave=False, disable=not progress):
        items = [ds.load(i) for i in range(s, min(s + batch_size, len(ds)))]
        crops = np.stack([im for im, _, _ in items])
        pts, conf = backend(crops)
        if flip:
            fpts, fconf = backend(np.ascontiguousarray(crops[:, :, ::-1]))
            fpts = fpts[:, layout.flip_index]
            fpts = np.stack([1.0 - fpts[..., 0], fpts[..., 1]], axis=-1)
            pts, conf = (pts + fpts) / 2, (conf + fconf[:, layout.flip_index]) / 2
        size = crops.shape[1]
        gts += [np.where(m[:, None], p / size, np.nan) for _, p, m in items]
        preds.append(pts)
        confs.append(conf)
    return np.concatenate(preds), np.concatenate(confs), np.stack(gts).astype(np.float32)


def report(pred: np.ndarray, gt: np.ndarray, layout: Layout, norm: str = "outer_eye",
           threshold: float = 0.10) -> dict:
    per = nme(pred, gt, layout, norm)
    auc, fr = auc_fr(per, threshold)
    out = {"num_samples": int(len(per)), "norm": norm, "nme": float(per.mean()),
           "nme_median": float(np.median(per)), f"auc@{threshold:g}": auc, f"fr@{threshold:g}": fr}
    if threshold != 0.10:
        out["auc@0.1"], out["fr@0.1"] = auc_fr(per, 0.10)
    out["regions"] = {g: _labelled_mean(nme(pred, gt, layout, norm, layout.region_index(g))) for g in layout.groups}
    return out


def _labelled_mean(per: np.ndarray) -> float | None:
    """Mean over the samples that label the region; None when none does."""
    per = per[np.isfinite(per)]
    return float(per.mean()) if len(per) else None


def plot_ced(per_sample: np.ndarray, path: Path, threshold: float, title: str) -> bool:
    """Cumulative error distribution PNG; returns False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    xs = np.linspace(0, max(threshold * 1.5, 1e-3), 300)
    ced = np.searchsorted(np.sort(per_sample), xs, side="right") / len(per_sample)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(xs * 100, ced * 100)
    ax.axvline(threshold * 100, color="gray", ls="--")
    ax.set(xlabel="NME (%)", ylabel="images (%)", title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return True


def evaluate(weights: str | Path, data: str | Path, *, split: str = "test", norm: str | None = None,
             threshold: float = 0.10, flip: bool = False, out: str | Path | None = None, worst: int = 10,
             batch_size: int = 32, device: str = "cpu", workers: int = 0) -> dict:
    """Evaluate a checkpoint on a prepared folder's list; write the report to `out` when given."""
    from ..config import Config
    from ..data.parts import make_dataset
    from ..draw import draw_points

    from ..infer.backends import TorchBackend, load_backend
    from ..data.dataset import read_manifest, worker_ignores_stop_signals
    from ..models.checkpoint import resolve_init

    backend = load_backend(resolve_init(str(weights)), device=device)  # 'starter' = the shipped checkpoint
    if not isinstance(backend, TorchBackend):  # an export (ONNX, int8, ncnn, LiteRT): its own preprocessing, decoding
        cfg = Config.from_dict({"input_size": backend.input_size, "layout": backend.layout.name,
                                "data_terms": backend.meta.get("training_data_terms", "")})
        layout, nb = backend.layout, np.zeros((backend.num_points, 0), np.int64)
    else:
        lm = backend.module.loaded
        cfg, layout, nb = lm.cfg, lm.layout, lm.nb
    prepared_for = (read_manifest(data) or {}).get("layout") if Path(data).is_dir() else None
    if prepared_for and get_layout(prepared_for).name != layout.name:
        raise UserError(f"{weights}: checkpoint predicts layout {layout.name}, but {data} was prepared for "
                        f"layout {get_layout(prepared_for).name}; evaluate it with a model of that layout")
    norm = norm or cfg.norm
    list_name = {"test": cfg.test_list, "train": cfg.train_list}.get(split, split)
    ds = make_dataset(data, list_name, cfg, layout, nb, train=False)
    if not isinstance(backend, TorchBackend):
        pred, conf, gt = predict_backend(backend, ds, batch_size, flip=flip, progress=True)
    else:
        loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers,
                            worker_init_fn=worker_ignores_stop_signals)
        pred, conf, gt = predict_loader(lm.model, lm.decoder, loader, torch.device(device), layout, flip=flip,
                                        progress=True)
    rep = {"weights": str(weights), "data": str(data), "split": split, "flip_tta": flip,
           "training_data_terms": cfg.data_terms, **report(pred, gt, layout, norm, threshold)}
    per = nme(pred, gt, layout, norm)
    if out:
        out = Path(out)
        order = np.argsort(-per)[:worst]
        rep["worst"] = [{"image": ds.entries[i][0], "nme": float(per[i])} for i in order]
        samples = {s.get("image"): s for s in (read_manifest(data) or {}).get("samples", [])}
        side = max(WORST_MIN_SIDE, cfg.input_size)
        for rank, i in enumerate(order):
            name = ds.entries[i][0]
            canvas = source_region(samples.get(name), side)
            rep["worst"][rank]["drawn_on"] = "crop" if canvas is None else "source"
            if canvas is None:  # the source photo is gone or changed: the crop, enlarged
                canvas = cv2.resize(ds.load(int(i))[0], (side, side), interpolation=cv2.INTER_LINEAR)
            canvas = draw_points(canvas, gt[i] * side, layout, color=(0, 255, 0))
            canvas = draw_points(canvas, pred[i] * side, layout)
            atomic_write_image(out / "worst" / f"{rank:02d}_{Path(name).stem}.png", canvas)
        rep["ced_plot"] = str(out / "ced.png") if plot_ced(per, out / "ced.png", threshold, f"CED ({norm})") else None
        atomic_write_json(out / "eval.json", rep)
        atomic_write_json(out / "per_sample.json", [{"image": e[0], "nme": float(v)} for e, v in zip(ds.entries, per)])
    return rep


def source_region(sample: dict | None, side: int) -> np.ndarray | None:
    """The region of the source photo a prepared crop was cut from, cut again at `side` x `side` px.

    `sample` is the crop's manifest.json record (source path, source size, crop transform); scaling the
    transform by side / crop size keeps points in register (normalized crop coordinates x `side`).
    None when there is no record, or the source is missing, unreadable or no longer the size it was.
    """
    from ..crop import CropTransform
    from ..fileio import read_image

    if not sample or not sample.get("source") or "transform" not in sample:
        return None
    try:
        image = read_image(sample["source"])  # as `prepare` read it (EXIF orientation applied)
    except UserError:
        return None
    if sample.get("source_size") and list(sample["source_size"]) != [image.shape[1], image.shape[0]]:
        return None
    t = CropTransform.from_dict(sample["transform"])
    k = side / t.size
    return CropTransform(t.scale * k, t.offset_x * k, t.offset_y * k, side).apply(image)


def format_report(rep: dict) -> str:
    keys = [k for k in rep if k.startswith(("auc@", "fr@"))]
    lines = [f"NME ({rep['norm']}): {rep['nme'] * 100:.3f}%  median {rep['nme_median'] * 100:.3f}%  "
             + "  ".join(f"{k.upper()}: {rep[k] * 100:.2f}%" for k in keys) + f"  n={rep['num_samples']}"]
    lines += [f"  {g:<8} " + ("not labelled" if v is None else f"{v * 100:.3f}%") for g, v in rep["regions"].items()]
    if "training_data_terms" in rep:
        lines.append(terms_line(rep["training_data_terms"]))
    return "\n".join(lines)


