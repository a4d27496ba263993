"""`pipnet106 compare`: the same backbone, data and budget with each head, one table and one CED plot.

For every head asked for (`constants.HEAD_NAMES`) a sub-run OUT/<head>/ is trained with `train` from
the same config (same `init`, seed, augmentation, epochs and steps), so the heads differ in nothing
but the head. Its last.pt (the model at the end of the budget: no checkpoint is picked on the split
it is measured on) is exported to OUT/<head>/model.onnx and evaluated through onnxruntime on the
prepared folder's test list (`train.evaluate`: NME overall and per region, FR and AUC at 0.1, per
sample NMEs for the CED). Then every export is timed round-robin in one loop (`infer.bench.race`,
ms/face at batch 1 and 8 on `threads` onnxruntime threads) and OUT/compare.md, compare.json and
ced.png are written.

Resumable like `train`: a head whose OUT/<head>/result.json exists is done and skipped; one with a
last.pt is resumed (`train --resume`), so a stopped comparison continues where it was.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ..config import Config
from ..constants import HEAD_NAMES
from ..errors import UserError
from ..data.formats import read_json
from ..fileio import atomic_write, atomic_write_json, atomic_write_text, read_text_file

FOLLOW_FACES = 40
"""Test faces the follow figures (`train.follow`) are measured on, per head (a seeded choice)."""
FOLLOW_PARTS = ("eyes", "eyes_unseen_warp", "mouth", "brows", "jaw")
RESULT = "result.json"
"""Written in OUT/<head>/ when that head is trained, exported and evaluated (its presence = done)."""
BATCHES = (1, 8)
METRICS = ("nme", "auc@0.1", "fr@0.1")


def parse_heads(text: str) -> list[str]:
    """'pip,regression' -> ['pip', 'regression']; an unknown or repeated head is a one-line error."""
    heads = [h.strip() for h in str(text).split(",") if h.strip()]
    wrong = [h for h in heads if h not in HEAD_NAMES]
    if wrong or not heads:
        raise UserError(f"--heads: unknown head(s) {', '.join(wrong) or repr(text)}; known: {', '.join(HEAD_NAMES)}")
    if len(set(heads)) != len(heads):
        raise UserError(f"--heads: a head is listed twice ({text})")
    return heads


def compare(cfg: Config, heads: list[str], out: str | Path, *, threads: int = 1, repeats: int = 20,
            follow_faces: int = FOLLOW_FACES, log=print) -> dict:
    """Train, export, evaluate and time each head of `heads` on `cfg` (its `head` key is replaced), and
    measure how its points follow known changes on `follow_faces` test faces (0 = not); returns the
    comparison written to OUT/compare.json."""
    out = Path(out)
    if not cfg.data:
        raise UserError("compare: no dataset (pass --data PREPARED_DIR)")
    out.mkdir(parents=True, exist_ok=True)
    init = backbone_init(cfg.init, out) if cfg.init else ""
    results = {}
    for head in heads:
        results[head] = run_head(dataclasses.replace(cfg, head=head, out=str(out / head), init=init), log)
    if follow_faces and cfg.layout == "lapa106":
        for head in heads:
            results[head]["follow"] = follow_figures(dataclasses.replace(cfg, head=head), out / head, follow_faces, log)
    speed = time_exports({h: out / h / "model.onnx" for h in heads}, threads, repeats)
    rows = [{**results[h], **speed[h]} for h in heads]
    summary = {"data": str(cfg.data), "split": cfg.test_list, "budget": budget(cfg), "threads": threads,
               "rows": [{k: v for k, v in r.items() if k != "per_sample"} for r in rows]}
    atomic_write_json(out / "compare.json", summary)
    atomic_write_text(out / "compare.md", markdown(summary))
    summary["ced_plot"] = str(out / "ced.png") if plot_ced_curves(
        {r["head"]: np.asarray(r["per_sample"]) for r in rows}, out / "ced.png") else None
    log(f"compare: wrote {out / 'compare.md'}, {out / 'compare.json'}"
        + (f", {out / 'ced.png'}" if summary["ced_plot"] else " (no ced.png: matplotlib is not installed)"))
    return summary


BACKBONE_INIT = "backbone_init.pt"


def backbone_init(init: str, out: Path) -> str:
    """OUT/backbone_init.pt: the `init` checkpoint with its backbone tensors only, so every head (PIPNet's
    too) starts from the same backbone and a fresh head; its config (terms, mean face) is kept."""
    from ..fileio import atomic_torch_save
    from ..models.checkpoint import read_checkpoint, resolve_init

    path = out / BACKBONE_INIT
    if not path.is_file():
        ck = read_checkpoint(resolve_init(init))
        kept = {k: v for k, v in ck["model"].items() if k.startswith("backbone.")}
        if not kept:
            raise UserError(f"{init}: no backbone tensors in this checkpoint")
        keep = ("format", "version", "config", "layout", "meanface", "nb", "crop")
        atomic_torch_save(path, {**{k: ck[k] for k in keep if k in ck}, "model": kept})
    return str(path)


def budget(cfg: Config) -> dict:
    """What every head got: the same starting weights, epochs, steps and batch."""
    return {"init": f"{cfg.init} (backbone only)" if cfg.init else "(none)", "pretrained": cfg.pretrained or "(none)", "epochs": cfg.epochs,
            "max_steps_per_epoch": cfg.max_steps_per_epoch, "batch_size": cfg.batch_size, "lr": cfg.lr,
            "warmup_steps": cfg.warmup_steps, "freeze_bn": cfg.freeze_bn, "seed": cfg.seed,
            "backbone": cfg.backbone, "width": cfg.width, "net_stride": cfg.net_stride,
            "input_size": cfg.input_size}


def run_head(cfg: Config, log) -> dict:
    """One head's sub-run: trained (or resumed, or skipped when done), exported, evaluated."""
    from ..train.loop import train

    sub = Path(cfg.out)
    if (sub / RESULT).is_file():
        log(f"compare: {cfg.head} is done ({sub / RESULT}); skipping")
        return read_json(sub / RESULT)
    log(f"compare: {cfg.head}: training in {sub}")
    if (sub / "last.pt").is_file():
        train(cfg, resume=sub, quiet=True)
    else:
        train(cfg, quiet=True)
    result = measure(cfg, sub)
    atomic_write_json(sub / RESULT, result)
    log(f"compare: {cfg.head}: NME {result['nme'] * 100:.3f}%")
    return result


def measure(cfg: Config, sub: Path) -> dict:
    """Export last.pt to ONNX and evaluate the export on the test list; sizes from the network itself."""
    from ..models import count_flops, count_params
    from ..models.checkpoint import load_model
    from ..train.evaluate import evaluate
    from .export import export_checkpoint

    export_checkpoint(sub / "last.pt", sub / "model.onnx")
    rep = evaluate(sub / "model.onnx", cfg.data, split=cfg.test_list, out=sub / "eval", worst=0)
    per = [float(r["nme"]) for r in json.loads(read_text_file(sub / "eval" / "per_sample.json", "per-sample NMEs"))]
    model = load_model(sub / "last.pt").model
    return {"head": cfg.head, **{k: rep[k] for k in METRICS}, "nme_median": rep["nme_median"],
            "regions": rep["regions"], "num_samples": rep["num_samples"], "params": count_params(model),
            "flops": count_flops(model, cfg.input_size), "per_sample": per}


def follow_figures(cfg: Config, sub: Path, faces: int, log) -> dict:
    """Follow per part and the across-face slopes of OUT/<head>/model.onnx (`train.follow`), kept in
    OUT/<head>/follow.json (measured once; a rerun reads it)."""
    from ..infer.landmarker import Landmarker
    from ..train.follow import measure_follow, prepared_faces

    path = sub / "follow.json"
    if path.is_file():
        return read_json(path)
    lm = Landmarker.from_path(sub / "model.onnx", threads=1)
    rep = measure_follow(lm, prepared_faces(cfg.data, cfg.test_list, limit=faces))
    res = {"faces": rep["faces"], "parts": rep["parts"], "slopes": rep["slopes"]}
    atomic_write_json(path, res)
    log(f"compare: {cfg.head}: follow " + ", ".join(f"{k} {v:.2f}" for k, v in rep["parts"].items()))
    return res


def time_exports(paths: dict[str, Path], threads: int, repeats: int) -> dict[str, dict]:
    """ms/face of each ONNX file at batch 1 and 8 through onnxruntime, raced round-robin in one loop."""
    from ..infer.backends import OnnxBackend
    from ..infer.bench import race

    backends = {h: OnnxBackend(p, threads=threads) for h, p in paths.items()}
    size = next(iter(backends.values())).input_size
    rng = np.random.default_rng(0)
    speed: dict[str, dict] = {h: {} for h in paths}
    for b in BATCHES:
        crops = rng.integers(0, 256, (b, size, size, 3), dtype=np.uint8)
        ms = race({h: (lambda be=be: be(crops)) for h, be in backends.items()}, repeats, block=4)
        for h in paths:
            speed[h][f"ms_per_face_b{b}"] = round(ms[h] / b, 3)
    return speed


def markdown(summary: dict) -> str:
    """The comparison as a Markdown table (percentages of NME, FR, AUC; ms per face; sizes)."""
    rows = summary["rows"]
    regions = list(rows[0]["regions"]) if rows else []
    follow = [p for p in FOLLOW_PARTS if all(p in r.get("follow", {}).get("parts", {}) for r in rows)]
    head = (["head", "NME %", "FR@0.1 %", "AUC@0.1"] + [f"{g} %" for g in regions]
            + [f"follow {p}" for p in follow] + [f"ms/face b{b}" for b in BATCHES]
            + [f"time b{BATCHES[0]} / {rows[0]['head'] if rows else ''}", "params (M)", "GFLOPs"])
    first = rows[0][f"ms_per_face_b{BATCHES[0]}"] if rows else 1.0
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = ([r["head"], f"{r['nme'] * 100:.3f}", f"{r['fr@0.1'] * 100:.2f}", f"{r['auc@0.1']:.4f}"]
                 + ["-" if r["regions"][g] is None else f"{r['regions'][g] * 100:.3f}" for g in regions]
                 + [f"{r['follow']['parts'][p]:.2f}" for p in follow]
                 + [f"{r[f'ms_per_face_b{b}']:.2f}" for b in BATCHES]
                 + [f"{r[f'ms_per_face_b{BATCHES[0]}'] / first:.2f}x", f"{r['params'] / 1e6:.2f}",
                    f"{r['flops'] / 1e9:.3f}"])
        lines.append("| " + " | ".join(cells) + " |")
    b = summary["budget"]
    lines += ["", f"Data: {summary['data']} (list {summary['split']}, {rows[0]['num_samples'] if rows else 0} faces), "
              f"evaluated through each ONNX export. Budget per head: init {b['init']}, {b['epochs']} epochs x "
              f"{b['max_steps_per_epoch'] or 'all'} steps x batch {b['batch_size']}, lr {b['lr']:g}, seed {b['seed']}; "
              f"{b['backbone']} width {b['width']}, stride {b['net_stride']}, input {b['input_size']}. "
              f"Timing: onnxruntime, {summary['threads']} thread(s), heads raced round-robin in one loop."]
    if follow:
        lines += ["", f"Follow (`train.follow`, {rows[0]['follow']['faces']} test faces): measured / true change "
                  "of a part under known warps (1 = the points move with the face, 0 = they stay on the mean "
                  "shape); eyes_unseen_warp is a lens no training warp uses."]
    return "\n".join(lines) + "\n"


def plot_ced_curves(per_head: dict[str, np.ndarray], path: Path, threshold: float = 0.10) -> bool:
    """One cumulative error curve per head in one PNG; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    xs = np.linspace(0, threshold * 1.5, 300)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for head, per in per_head.items():
        ax.plot(xs * 100, np.searchsorted(np.sort(per), xs, side="right") / max(len(per), 1) * 100, label=head)
    ax.axvline(threshold * 100, color="gray", ls="--")
    ax.set(xlabel="NME (%)", ylabel="faces (%)", title="CED per head", ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return True
