"""`make demo`: the shipped starter model on a shipped real group photo.

Writes an annotated PNG and a JSON of every face's 106 points to
``demo_out/`` (or the folder given as the first argument) and prints where
they are and how long each step took. Needs no training and no network.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..fileio import atomic_write_image, atomic_write_json, read_image
from ..draw import draw_faces
from ..constants import DEMO_PHOTO
from ..infer.landmarker import Landmarker



def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "demo_out")
    t0 = time.perf_counter()
    lm = Landmarker.default()
    t_load = time.perf_counter() - t0
    image = read_image(DEMO_PHOTO)
    lm.predict(image)  # warm-up: first onnxruntime call allocates
    t1 = time.perf_counter()
    faces = lm.predict(image)
    t_pred = time.perf_counter() - t1
    png = atomic_write_image(out / "group4_landmarks.png", draw_faces(image, faces))
    js = atomic_write_json(out / "group4_landmarks.json",
                           {"image": str(DEMO_PHOTO.name), "width": image.shape[1], "height": image.shape[0],
                            "model": lm.backend.name, "faces": [f.to_dict() for f in faces]})
    print(f"pipnet106 demo: {len(faces)} faces, {lm.layout.num_points} points each "
          f"(model load {t_load * 1000:.0f} ms, detect + landmarks {t_pred * 1000:.0f} ms "
          f"for the whole {image.shape[1]}x{image.shape[0]} photo)")
    print(f"  annotated image: {png}")
    print(f"  landmarks JSON:  {js}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
