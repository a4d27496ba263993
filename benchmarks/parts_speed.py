"""What the local stage costs: ms/face of the face model alone and with each set of part models.

All pipelines (the demo photo's faces, crop from the box + face model + mapping back, then the part
models' re-crops and refinement) are raced round-robin in one loop (`pipnet106.infer.bench.race`),
so their ratios hold on a shared, noisy machine; the table gives ms/face and the ratio to the face
model alone, at each thread count and batch size.

    OMP_NUM_THREADS=1 python benchmarks/parts_speed.py --sets shipped=starter \\
        eye80=runs/v3e/starter.eye.onnx,src/pipnet106/assets/starter_mouth.onnx

Prints a table and writes benchmarks/results/parts_speed.json.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from pipnet106 import Landmarker
from pipnet106.constants import DEMO_PHOTO, STARTER_ONNX
from pipnet106.fileio import atomic_write_json, read_image
from pipnet106.infer.backends import load_parts
from pipnet106.infer.bench import race

ROOT = Path(__file__).resolve().parents[1]


def rows_for(face: Path, sets: dict[str, list[str]], threads: int, batches: list[int], repeats: int) -> list[dict]:
    image = read_image(DEMO_PHOTO)
    lms = {"face model alone": Landmarker.from_path(face, threads=threads, parts=())}
    lms.update({name: Landmarker.from_path(face, threads=threads, parts=load_parts(files, threads=threads))
                for name, files in sets.items()})
    boxes, _ = lms["face model alone"].detect(image)
    rows = []
    for b in batches:
        sel = np.resize(boxes, (b, 4))
        fns = {name: (lambda lm=lm, s=sel: lm.landmarks_for_boxes(image, s, refine=False)) for name, lm in lms.items()}
        ms = race(fns, repeats, block=4)
        alone = ms["face model alone"]
        rows += [{"pipeline": name, "threads": threads, "batch": b, "ms_per_face": round(ms[name] / b, 3),
                  "vs_face_model_alone": round(ms[name] / alone, 3)} for name in lms]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--face", default=str(STARTER_ONNX), help="the face model (default: the shipped starter)")
    ap.add_argument("--sets", nargs="+", required=True,
                    help="name=part files, comma-separated ('starter' = the shipped eye and mouth models)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "parts_speed.json"))
    a = ap.parse_args()
    sets = {name: files.split(",") for name, files in (s.split("=", 1) for s in a.sets)}
    rows = []
    for th in a.threads:
        rows += rows_for(Path(a.face), sets, th, a.batch, a.repeats)
    print("| pipeline | threads | batch | ms/face | vs face model alone |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['pipeline']} | {r['threads']} | {r['batch']} | {r['ms_per_face']:.2f} | "
              f"{r['vs_face_model_alone']:.2f}x |")
    atomic_write_json(a.json, {"benchmark": "parts_speed", "face": a.face, "sets": sets, "repeats": a.repeats,
                               "load_average": os.getloadavg(), "rows": rows})


if __name__ == "__main__":
    main()
