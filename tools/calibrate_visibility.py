"""Calibrate a trained visibility head: one shift of every visibility logit so that a chosen share
of the uncovered points reads as covered (below 0.5), measured on occluded copies of *training*
faces (never the held-out faces benchmarks/visibility.py reports on). Only the visibility head's
bias changes; points and confidences are the same numbers.

    OMP_NUM_THREADS=1 python tools/calibrate_visibility.py --weights run/last.pt \
        --data /work/data/prep/mix2 --faces 300 --false-rate 0.025 --out run/calibrated.pt

Why: a head trained on frozen features with mostly visible points comes out cautious (few points
below 0.5 even where covered); 0.5 is the line `draw` and the retouch fade use.
"""
from __future__ import annotations

import argparse

from pipnet106 import Landmarker
from pipnet106.constants import VISIBLE_MIN
from pipnet106.errors import UserError
from pipnet106.fileio import atomic_torch_save
from pipnet106.models.checkpoint import read_checkpoint
from pipnet106.train.follow import prepared_faces
from pipnet106.train.visibility import logit_shift, roc_auc, visibility_scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True, help="checkpoint with a visibility head")
    ap.add_argument("--data", required=True, help="prepared folder whose --list faces calibrate")
    ap.add_argument("--list", default="train.txt")
    ap.add_argument("--faces", type=int, default=300)
    ap.add_argument("--false-rate", type=float, default=0.025, help="share of uncovered points to read as covered")
    ap.add_argument("--seed", type=int, default=777, help="occluders' seed (not the benchmark's)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    try:
        calibrate(a)
    except UserError as e:
        raise SystemExit(f"error: {e}") from None


def calibrate(a: argparse.Namespace) -> None:
    ck = read_checkpoint(a.weights)
    lm = Landmarker.from_path(a.weights, threads=1, detector=None)
    covered, scores, n = visibility_scores(lm, prepared_faces(a.data, a.list, limit=a.faces, seed=1), seed=a.seed)
    if covered is None:
        raise UserError(f"{a.weights}: the model has no visibility output")
    shift = logit_shift(covered, scores, a.false_rate)
    bias = ck["model"]["vis_layer.bias"]
    ck["model"]["vis_layer.bias"] = (bias.float() + shift).to(bias.dtype)
    for key in ("optimizer", "scheduler", "scaler", "rng"):  # a calibrated model is not a run to resume
        ck.pop(key, None)
    atomic_torch_save(a.out, ck)
    recall = float((scores[covered] < VISIBLE_MIN).mean())
    print(f"{n} faces, {covered.sum()} covered points: AUC {roc_auc(covered.ravel(), -scores.ravel()):.3f}, "
          f"recall below {VISIBLE_MIN} before {recall:.3f}; logit shift {shift:+.3f} -> {a.out}")


if __name__ == "__main__":
    main()
