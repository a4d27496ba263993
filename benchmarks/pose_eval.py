"""Head-pose error on synthetic faces of known pose, and which faces of the shared photos are
flagged unreliable (and why).

1. Synthetic: `synth.render_face` with yaw drawn in [-60, 60], pitch [-20, 20], roll [-30, 30]
   degrees; pose from the true points (the ceiling: only expression and proportions differ from
   the 3-D template) and from the points the model predicts (starter by default; each face found
   by the detector, or given its true landmark box when the detector misses it). Mean absolute
   error per angle, overall and by |yaw| bucket.
2. Shared photos (../shared/data/photos): every face the default pipeline finds, with its pose,
   mean confidence, size and the reasons it is unreliable; totals per photo.

    python benchmarks/pose_eval.py [--faces 200] [--photos DIR] [--weights starter]

Prints tables and writes benchmarks/results/pose_eval.json.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pipnet106 import Landmarker  # noqa: E402
from pipnet106.crop import points_box  # noqa: E402
from pipnet106.fileio import atomic_write_json, is_image_file, read_image  # noqa: E402
from pipnet106.infer.pose import head_pose  # noqa: E402
from pipnet106.synth.faces import render_face  # noqa: E402


def synthetic(lm: Landmarker, n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        truth = np.array([rng.uniform(-60, 60), rng.uniform(-20, 20), rng.uniform(-30, 30)])
        img, pts = render_face(np.random.default_rng([seed, k]), 256, 256, yaw=truth[0], pitch=truth[1],
                               roll=truth[2], scale=float(rng.uniform(90, 150)), centre=(128, 128))
        ideal = head_pose(pts)
        faces = lm.predict(img)
        box = points_box(pts)
        best = None
        for f in faces:  # the detection on this face
            c = (f.box[:2] + f.box[2:]) / 2
            if box[0] <= c[0] <= box[2] and box[1] <= c[1] <= box[3]:
                best = f
                break
        if best is None:
            best = lm.predict(img, boxes=[box])[0]
        pred = best.pose
        rows.append({"truth": truth.tolist(), "ideal": [ideal.yaw, ideal.pitch, ideal.roll],
                     "pred": [pred.yaw, pred.pitch, pred.roll] if pred else None,
                     "detected": bool(faces), "reliable": best.reliable})
    t = np.array([r["truth"] for r in rows])
    ide = np.abs(np.array([r["ideal"] for r in rows]) - t)
    ok = [i for i, r in enumerate(rows) if r["pred"] is not None]
    pre = np.abs(np.array([rows[i]["pred"] for i in ok]) - t[ok])
    out = {"faces": n, "mae_true_points": ide.mean(0).round(2).tolist(), "mae_model_points": pre.mean(0).round(2).tolist(),
           "by_abs_yaw": {}}
    for lo, hi in ((0, 20), (20, 40), (40, 60)):
        sel = [j for j, i in enumerate(ok) if lo <= abs(t[i, 0]) < hi]
        rel = [rows[ok[j]]["reliable"] for j in sel]
        out["by_abs_yaw"][f"{lo}-{hi}"] = {"faces": len(sel), "mae_model_points": pre[sel].mean(0).round(2).tolist(),
                                           "reliable_share": round(float(np.mean(rel)), 3) if rel else None}
    return out


def photos(lm: Landmarker, folder: Path) -> dict:
    per = {}
    for p in sorted((q for q in folder.iterdir() if is_image_file(q)), key=lambda q: int(q.stem) if q.stem.isdigit() else 0):
        faces = lm.predict(read_image(p))
        rec = []
        for f in faces:
            ok, why = f.reliability()
            pose = f.pose
            rec.append({"box": [round(float(v)) for v in f.box], "reliable": ok, "why": why,
                        "pose": pose.to_dict() if pose else None, "conf": round(float(np.mean(f.conf)), 3),
                        "size": round(f.size, 1)})
        per[p.name] = rec
    return per


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=200)
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos")
    ap.add_argument("--weights", default="starter")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pose_eval.json")
    a = ap.parse_args(argv)
    lm = (Landmarker.default(threads=a.threads) if a.weights == "starter"
          else Landmarker.from_path(a.weights, threads=a.threads))
    syn = synthetic(lm, a.faces)
    print(f"synthetic faces: {syn['faces']}; MAE (yaw, pitch, roll) degrees: true points {syn['mae_true_points']}, "
          f"model points {syn['mae_model_points']}")
    print("| abs(yaw) | faces | MAE yaw | MAE pitch | MAE roll | flagged reliable |\n|---|---|---|---|---|---|")
    for k, v in syn["by_abs_yaw"].items():
        m = v["mae_model_points"]
        print(f"| {k} | {v['faces']} | {m[0]:.1f} | {m[1]:.1f} | {m[2]:.1f} | {v['reliable_share']} |")
    result = {"synthetic": syn}
    if a.photos.is_dir():
        per = photos(lm, a.photos)
        reasons = Counter(w.split()[0] for faces in per.values() for f in faces for w in f["why"])
        total = sum(len(v) for v in per.values())
        flagged = sum(not f["reliable"] for v in per.values() for f in v)
        print(f"\nshared photos: {total} faces found, {flagged} unreliable; reasons: {dict(reasons)}")
        print("| photo | faces | unreliable | reasons |\n|---|---|---|---|")
        for name, faces in per.items():
            c = Counter(w.split()[0] for f in faces for w in f["why"])
            print(f"| {name} | {len(faces)} | {sum(not f['reliable'] for f in faces)} | {dict(c)} |")
        result["photos"] = per
    atomic_write_json(a.out, result, indent=None)  # one line: every face of 24 photos
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
