"""Speed of retouching: apply time per image size, beside detection and landmarks, against a peer.

Portrait: a face from the shipped group photo, cropped so the face is about half the
image width (3:4), resized to 480/960/1920/3840 px wide. For each size: detection,
landmarks (from the detector's boxes), and apply time of
 - shape: the 'natural' preset's five shape adjustments (one fused field, one remap; the preset's
   colour touch is left out, as the peer does no colour);
 - shape + lipstick + skin smoothing;
 - colour: every colour effect at once, no shape (skin smoothing, skin tone, blush, lipstick,
   teeth, eye brightening, under-eye, eyeliner, eyeshadow, brow tint, lens: issue 20's target is
   <= 30 ms at 1920 px on 2 threads) and beauty: the eight effects of issue 20 alone;
 - peer: the same five adjustments done the way per-effect tools do it, one full-image
   remap per adjustment in sequence (our own fields, so the comparison isolates the
   fused-field design); ratio = peer / shape;
 - copy: a plain copy of the image (the floor every non-destructive edit pays).
Group photo: the shipped 4-face photo at 1x and 2x. Medians of --repeats runs, 2 threads.

    python benchmarks/retouch_speed.py [--repeats 7]

Prints a table and writes benchmarks/results/retouch_speed.json. The machine may be
shared: the load average is recorded; compare ratios in one run, not absolute times
across runs.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from pipnet106.fileio import atomic_write_json  # noqa: E402
from pipnet106.infer.landmarker import STARTER_ONNX, Landmarker  # noqa: E402
from pipnet106.retouch import PRESETS, Adjustments, retouch  # noqa: E402
from pipnet106.retouch.warp import face_field  # noqa: E402

BEAUTY_ONLY = Adjustments(skin_tone=0.3, teeth_whiten=0.5, eye_brighten=0.4, under_eye=0.5, eyeliner=0.7,
                          eyeshadow=0.5, brow_tint=0.4, lens=0.6)
COLOUR = BEAUTY_ONLY.updated(smooth_skin=0.5, blush=0.3, lipstick=(190, 30, 45), lipstick_amount=0.6)

ROOT = Path(__file__).resolve().parents[1]
GROUP = ROOT / "src" / "pipnet106" / "assets" / "demo" / "group4.jpg"


def portrait(width: int, lm: Landmarker) -> np.ndarray:
    """The largest face of the demo photo, cropped 3:4 with the face about half the width."""
    img = cv2.imread(str(GROUP))
    f = lm.predict(img)[0]
    x0, y0, x1, y1 = f.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.1 * (y1 - y0)
    w = 2.0 * (x1 - x0)
    h = w * 4 / 3
    crop = img[int(max(0, cy - h / 2)):int(min(img.shape[0], cy + h / 2)), int(cx - w / 2):int(cx + w / 2)]
    return cv2.resize(crop, (width, int(round(width * crop.shape[0] / crop.shape[1]))), interpolation=cv2.INTER_CUBIC)


CPU: dict[str, float] = {}


def timed(fn, repeats: int, key: str = "") -> float:
    """Median wall ms; the median CPU ms of the process (all threads) goes to CPU[key].

    On a shared machine wall time grows with the load while CPU time stays near the work done;
    alone on 2 threads, wall time lies between CPU/2 (perfectly parallel) and CPU (serial).
    """
    fn()  # warm-up
    ts, cs = [], []
    for _ in range(repeats):
        c, t = time.process_time(), time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    CPU[key] = 1000 * float(np.median(cs))
    return 1000 * float(np.median(ts))


def peer(image: np.ndarray, faces, adj: Adjustments) -> np.ndarray:
    """One full-image remap per adjustment, in sequence (how per-effect tools apply a preset)."""
    out = image.copy()
    h, w = image.shape[:2]
    X, Y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    for name, value in adj.shape.items():
        for f in faces:
            fld = face_field(f, Adjustments(**{name: value}), image.shape)
            if fld is None:
                continue
            mx, my = X.copy(), Y.copy()
            dx, dy = fld.upsampled()
            x0, y0, x1, y1 = fld.roi
            mx[y0:y1, x0:x1] += dx
            my[y0:y1, x0:x1] += dy
            out = cv2.remap(out, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out


BEAUTY = ("skin_tone", "teeth_whiten", "eye_brighten", "under_eye", "eyeliner", "eyeshadow", "brow_tint", "lens")


def measure(lm, img, boxes, faces, shape, full, reps: int) -> dict:
    calib = getattr(lm.detector, "landmark_box", None)
    jobs = {"detect": lambda: lm.detect(img),
            "landmarks": lambda: lm.landmarks_for_boxes(img, boxes, calibration=calib),
            "copy": lambda: img.copy(),
            "shape": lambda: retouch(img, faces, shape),
            "shape_makeup": lambda: retouch(img, faces, full),
            "colour": lambda: retouch(img, faces, COLOUR),
            "beauty": lambda: retouch(img, faces, BEAUTY_ONLY),
            "peer": lambda: peer(img, faces, shape)}
    row = {}
    for k, fn in jobs.items():
        row[f"{k}_ms"] = timed(fn, reps, k)
        row[f"{k}_cpu_ms"] = CPU[k]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--widths", default="480,960,1920,3840", help="portrait widths, comma-separated")
    ap.add_argument("--no-group", action="store_true", help="skip the group photo rows")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "retouch_speed.json"))
    a = ap.parse_args()
    cv2.setNumThreads(a.threads)
    load0 = os.getloadavg()
    lm = Landmarker.from_onnx(STARTER_ONNX, threads=a.threads)
    # the 'natural' preset's shape adjustments only: since issue 20 the preset also has a colour touch,
    # which the peer (remaps only) does not do and the colour columns time on their own
    shape = Adjustments(**PRESETS["natural"].shape)
    full = shape.updated(lipstick=(190, 30, 45), lipstick_amount=0.6, smooth_skin=0.5)
    rows = []
    for width in (int(w) for w in a.widths.split(",")):
        img = portrait(width, lm)
        reps = a.repeats if width <= 1920 else max(3, a.repeats // 2)
        # the portrait's own face only (largest first): a neighbour cut by the crop's edge is not it
        boxes, _ = lm.detect(img)
        boxes, faces = boxes[:1], lm.predict(img)[:1]
        row = {"image": f"portrait {img.shape[1]}x{img.shape[0]}", "faces": len(faces),
               "face_px": round(float(faces[0].box[2] - faces[0].box[0]), 0),
               **measure(lm, img, boxes, faces, shape, full, reps)}
        rows.append(row)
        print(row, flush=True)
    group = cv2.imread(str(GROUP))
    for k in () if a.no_group else (1, 2):
        img = group if k == 1 else cv2.resize(group, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
        faces = lm.predict(img)
        boxes, _ = lm.detect(img)
        row = {"image": f"group {img.shape[1]}x{img.shape[0]}", "faces": len(faces),
               "face_px": round(float(np.median([f.box[2] - f.box[0] for f in faces])), 0),
               **measure(lm, img, boxes, faces, shape, full, a.repeats)}
        rows.append(row)
        print(row, flush=True)
    load1 = os.getloadavg()
    print(f"\n{a.threads} threads, median of {a.repeats} (3840: {max(3, a.repeats // 2)}); load average "
          f"{load0[0]:.1f} -> {load1[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("wall ms (CPU ms of the process, all threads)\n")
    print("| image | faces | face px | detect | landmarks | apply: shape (5 adj.) | + lipstick + smoothing "
          "| all 11 colour effects | the 8 new colour effects | peer: one remap per adjustment "
          "| peer / ours (wall, CPU) | copy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    f = lambda r, k: f"{r[k + '_ms']:.1f} ({r[k + '_cpu_ms']:.1f})"
    for r in rows:
        print(f"| {r['image']} | {r['faces']} | {r['face_px']:.0f} | {f(r, 'detect')} | {f(r, 'landmarks')} | "
              f"{f(r, 'shape')} | {f(r, 'shape_makeup')} | {f(r, 'colour')} | {f(r, 'beauty')} | {f(r, 'peer')} | "
              f"{r['peer_ms'] / r['shape_ms']:.1f}x, {r['peer_cpu_ms'] / max(r['shape_cpu_ms'], 1e-3):.1f}x | {f(r, 'copy')} |")
    atomic_write_json(a.out, {"threads": a.threads, "repeats": a.repeats, "loadavg_before": load0,
                              "loadavg_after": load1, "cpus": os.cpu_count(), "rows": rows})
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
