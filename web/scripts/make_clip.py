"""A fake-camera clip for the browser test: one face of the demo photo, 640x480, gently moving.

Chromium plays a .y4m file as its camera (--use-file-for-fake-video-capture). The face (the box
given on the command line, from `pipnet106 predict`) is cut from the demo photo with a soft oval
edge and laid over a strongly blurred copy of the photo (the other faces become shapeless, so the
clip has exactly one face); it fills about 40% of the frame's height, drifts on a small circle and
zooms by +-8% over the clip, so the tracker really follows it. Written with numpy and OpenCV only
(no ffmpeg); the photo is read, never modified.

    python make_clip.py PHOTO X0 Y0 X1 Y1 OUT.y4m [--frames 120] [--fps 30]
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import cv2
import numpy as np

W, H = 640, 480


def frame_matrix(cx: float, cy: float, side: float, k: int, frames: int) -> np.ndarray:
    """2x3 photo -> frame affine for frame k: face centre on a 3%-of-frame circle, zoom +-8%."""
    phase = 2 * math.pi * k / frames
    zoom = (0.4 * H / side) * (1.0 + 0.08 * math.sin(phase))
    ox = W / 2 + 0.03 * W * math.cos(phase)
    oy = H / 2 + 0.03 * H * math.sin(phase)
    return np.array([[zoom, 0.0, ox - zoom * cx], [0.0, zoom, oy - zoom * cy]])


def one_face(photo: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """The photo blurred beyond recognition, with the face around (cx, cy) kept sharp inside an oval
    of 0.75 x 0.95 `side` half-axes that fades out over a tenth of the side."""
    h, w = photo.shape[:2]
    blurred = cv2.GaussianBlur(photo, (0, 0), sigmaX=side / 4)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xs - cx) / (0.75 * side)) ** 2 + ((ys - cy) / (0.95 * side)) ** 2)
    alpha = np.clip((1.0 - r) / 0.1 + 1.0, 0.0, 1.0)[..., None]
    return (alpha * photo + (1.0 - alpha) * blurred).round().astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo")
    ap.add_argument("box", nargs=4, type=float, metavar="X")
    ap.add_argument("out")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--fps", type=int, default=30)
    a = ap.parse_args(argv)
    photo = cv2.imread(a.photo, cv2.IMREAD_COLOR)
    if photo is None:
        print(f"make_clip: {a.photo}: cannot read the photo", file=sys.stderr)
        return 2
    x0, y0, x1, y1 = a.box
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
    photo = one_face(photo, cx, cy, side)
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F{a.fps}:1 Ip A1:1 C420jpeg\n".encode())
        for k in range(a.frames):
            frame = cv2.warpAffine(photo, frame_matrix(cx, cy, side, k, a.frames), (W, H), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT_101)
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
