"""Where one photo's time goes: detection, cropping, network passes, refinement, mapping back.

For the demo photo (4 faces), a 4000-px photo with one face (a shared photo upscaled, or a
synthetic face when ../shared is absent) and a crowd photo, the default `Landmarker` (shipped
starter, BlazeFace, one refinement pass) is timed stage by stage with the same calls `predict`
makes, and end to end (`Landmarker.predict`) against detection + one landmark pass per face in
the same round-robin (`bench.race`). Medians of --repeats runs, --threads onnxruntime threads.

    python benchmarks/photo_breakdown.py [--photos ../shared/data/photos] [--weights W]
        -> results/photo_breakdown.json
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pipnet106.infer.bench import race  # noqa: E402
from pipnet106.crop import crop_change, crop_from_points  # noqa: E402
from pipnet106.cli.demo import DEMO_PHOTO  # noqa: E402
from pipnet106.fileio import atomic_write_json, read_image  # noqa: E402
from pipnet106.infer.landmarker import Landmarker  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_PHOTOS = ROOT.parent / "shared" / "data" / "photos"
STAGES = ("detection", "cropping", "network", "mapping back", "refinement")


def photos(folder: Path) -> dict[str, np.ndarray]:
    out = {"demo (4 faces)": read_image(DEMO_PHOTO)}
    if (folder / "5.jpg").is_file():
        one = read_image(folder / "5.jpg")
        scale = 4000 / max(one.shape[:2])
        out["4000 px, one face"] = cv2.resize(one, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    else:
        from pipnet106.synth.faces import render_face

        out["4000 px, one face (synthetic)"] = render_face(np.random.default_rng(0), 4000, 3000)[0]
    if (folder / "17.jpg").is_file():
        out["crowd (17.jpg)"] = read_image(folder / "17.jpg")
    return out


def staged(lm: Landmarker, image: np.ndarray) -> tuple[dict[str, float], int, int]:
    """One predict, stage by stage (the calls Landmarker.predict makes), seconds per stage."""
    t = {}
    s = time.perf_counter()
    boxes, _ = lm.detect(image)
    t["detection"] = time.perf_counter() - s
    calib = getattr(lm.detector, "landmark_box", None)
    s = time.perf_counter()
    tr = [lm.crop_for_box(b, calib) for b in boxes]
    crops = lm.preprocess(image, tr)
    t["cropping"] = time.perf_counter() - s
    s = time.perf_counter()
    pts, _ = lm.inference(crops)
    t["network"] = time.perf_counter() - s
    s = time.perf_counter()
    src = lm.postprocess(pts, tr)
    t["mapping back"] = time.perf_counter() - s
    s = time.perf_counter()
    nxt = [crop_from_points(p, lm.size, lm.enlarge) for p in src]
    todo = [i for i in range(len(nxt)) if lm.refine_tol <= 0 or crop_change(tr[i], nxt[i]) > lm.refine_tol]
    if lm.refine and todo:
        sel = [nxt[i] for i in todo]
        p2, _ = lm.inference(lm.preprocess(image, sel))
        lm.postprocess(p2, sel)
    t["refinement"] = time.perf_counter() - s
    return t, len(boxes), len(todo) if lm.refine else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--weights", default=None, help="landmark model (default: the shipped starter)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--out", type=Path, default=RESULTS / "photo_breakdown.json")
    a = ap.parse_args()
    kw = dict(threads=a.threads)
    lm = Landmarker.from_path(a.weights, **kw) if a.weights else Landmarker.default(**kw)
    rows = []
    for name, image in photos(a.photos).items():
        runs = []
        for _ in range(a.repeats + 1):
            runs.append(staged(lm, image))
        runs = runs[1:]
        med = {k: statistics.median(r[0][k] for r in runs) * 1000 for k in STAGES}
        faces, refined = runs[0][1], runs[0][2]
        one_pass = lambda: lm.landmarks_for_boxes(image, lm.detect(image)[0], refine=0,  # noqa: E731
                                                  calibration=getattr(lm.detector, "landmark_box", None))
        ms = race({"end to end": lambda: lm.predict(image), "detection + one pass": one_pass}, a.repeats, 1, block=2)
        row = {"photo": name, "size": f"{image.shape[1]}x{image.shape[0]}", "faces": faces, "refined": refined,
               "stages_ms": med, "sum_of_stages_ms": sum(med.values()), **{k + "_ms": v for k, v in ms.items()},
               "end_to_end_vs_one_pass": ms["end to end"] / ms["detection + one pass"]}
        rows.append(row)
        print(f"  {name}: {row}", file=sys.stderr)
    atomic_write_json(a.out, {"threads": a.threads, "loadavg": list(os.getloadavg()), "rows": rows})
    print("| photo | size | faces | " + " | ".join(f"{s} ms" for s in STAGES)
          + " | end to end ms | detection + one pass ms | ratio |")
    print("|" + "---|" * (len(STAGES) + 6))
    for r in rows:
        print(f"| {r['photo']} | {r['size']} | {r['faces']} | " + " | ".join(f"{r['stages_ms'][s]:.1f}" for s in STAGES)
              + f" | {r['end to end_ms']:.1f} | {r['detection + one pass_ms']:.1f} | {r['end_to_end_vs_one_pass']:.2f}x |")
    print(f"\nwrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
