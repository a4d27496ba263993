"""Do the points follow the face? The follow metric (`pipnet106.train.follow`) of several models on
every pool's held-out faces and on synthetic faces, in one table.

For each model and face set: follow per part (measured change / true change of a known local
warp: eyes larger/smaller/opened, a magnifying lens training never uses, mouth wider/opened, lips,
brows, jaw; 1 = the points move with the face, 0 = they stay on the mean shape), the across-face
slopes of eye opening, mouth opening and brow height, and the NME of the unwarped faces per region.
Synthetic faces have exact geometry; the pools' held-out faces carry teacher labels.

    OMP_NUM_THREADS=1 python benchmarks/follow.py v2=src/pipnet106/assets/starter.onnx r1=run/best.pt \\
        --pools /work/data/prep --faces 40 --synthetic 40

Prints one Markdown table per model and writes benchmarks/results/follow.json (or --json).
About a second per face and model on one thread.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from pipnet106 import Landmarker
from pipnet106.fileio import atomic_write_json
from pipnet106.layout import LAPA106
from pipnet106.synth.faces import render_face
from pipnet106.train.evaluate import report
from pipnet106.train.follow import measure_follow, prepared_faces

POOLS = ("lfw", "utk", "mebeauty", "prima", "cuhk", "aaf", "webmorph")


def synthetic_faces(n: int, seed: int = 0):
    """Rendered faces with exact labels (frontal-ish, so every warp applies)."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        image, pts = render_face(rng, 256, 256, max_yaw=20)
        yield image, pts.astype(np.float64)


def region_nme(lm: Landmarker, faces) -> dict:
    """NME (outer-eye corners) overall and per region of the unwarped faces (`train.evaluate.report`),
    boxes from the labels; and ms/face."""
    preds, labels, secs = [], [], 0.0
    for image, lab in faces:
        t0 = time.perf_counter()
        pts, _ = lm.landmarks_for_boxes(image, np.r_[lab.min(0), lab.max(0)][None])
        secs += time.perf_counter() - t0
        preds.append(pts[0])
        labels.append(lab)
    rep = report(np.array(preds), np.array(labels), LAPA106)
    n = rep["num_samples"]
    return {"faces": n, "ms_per_face": 1e3 * secs / max(n, 1), "all": rep["nme"], **rep["regions"]}


def face_sets(a) -> dict:
    sets = {}
    for pool in a.pool_names:
        if (Path(a.pools) / pool / "test.txt").exists():
            sets[pool] = lambda pool=pool: prepared_faces(Path(a.pools) / pool, "test.txt", limit=a.faces)
    if a.synthetic:
        sets["synthetic"] = lambda: synthetic_faces(a.synthetic)
    return sets


def print_table(name: str, res: dict) -> None:
    parts = ["eyes", "eyes_unseen_warp", "mouth", "brows", "jaw"]
    print(f"\n### {name}\n")
    print("| faces | n | " + " | ".join(f"follow {p}" for p in parts)
          + " | slope eye / mouth / brow | NME all | eyes | mouth | pupils | ms/face |")
    print("|---" * (len(parts) + 8) + "|")
    for s, r in res.items():
        f, e = r["follow"], r["nme"]
        sl = "/".join(f"{f['slopes'][k]:.2f}" for k in ("eye_opening", "mouth_opening", "brow_height"))
        print(f"| {s} | {f['faces']} | " + " | ".join(f"{f['parts'].get(p, float('nan')):.2f}" for p in parts)
              + f" | {sl} | {e['all'] * 100:.2f}% | {e['eyes'] * 100:.2f}% | {e['mouth'] * 100:.2f}% | "
              f"{e['pupils'] * 100:.2f}% | {e['ms_per_face']:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="name=model (.onnx, .pt or any file Landmarker.from_path reads)")
    ap.add_argument("--pools", default="/work/data/prep", help="folder of prepared pools, each with test.txt")
    ap.add_argument("--pool-names", nargs="*", default=list(POOLS))
    ap.add_argument("--faces", type=int, default=40, help="held-out faces per pool (a seeded choice)")
    ap.add_argument("--synthetic", type=int, default=40, help="synthetic faces (0 = none)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="benchmarks/results/follow.json")
    a = ap.parse_args()
    sets, out = face_sets(a), {"faces_per_pool": a.faces, "synthetic": a.synthetic, "threads": a.threads, "models": {}}
    for spec in a.models:
        name, path = spec.split("=", 1)
        lm = Landmarker.from_path(path, threads=a.threads, detector=None)
        res = {s: {"follow": measure_follow(lm, make()), "nme": region_nme(lm, make())} for s, make in sets.items()}
        out["models"][name] = {"path": path, "sets": res}
        print_table(name, res)
        atomic_write_json(a.json, out)     # as it goes: a long run keeps what it measured


if __name__ == "__main__":
    main()
