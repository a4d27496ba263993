"""OpenCV's bundled Viola-Jones (Haar) frontal-face cascades.

Kept as a dependency-free fallback and a baseline: fast on small images, but
it misses turned and small faces and fires on texture more than BlazeFace.
The cascade XML files ship with opencv-python 4.x (``cv2.data.haarcascades``);
OpenCV 5 no longer has `cv2.CascadeClassifier` or the files, so there this
backend says so instead of failing later.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from .base import Detection, check_image, finish

CASCADES = {
    "default": "haarcascade_frontalface_default.xml",
    "alt2": "haarcascade_frontalface_alt2.xml",
    "alt": "haarcascade_frontalface_alt.xml",
}


def cascade_path(cascade: str) -> Path:
    """Resolve a cascade name ("default", "alt2", "alt") or an XML path."""
    if cascade in CASCADES:
        root = getattr(getattr(cv2, "data", None), "haarcascades", None)
        path = Path(root or "") / CASCADES[cascade]
    else:
        path = Path(cascade)
    if not path.is_file():
        raise UserError(f"{path}: Haar cascade file not found (OpenCV 5 wheels ship none; "
                        f"install opencv-python-headless<5 or use the 'blazeface' detector)")
    return path


class HaarDetector:
    """Haar cascade face detector.

    cascade: "default" (more recall), "alt2" (fewer false alarms), "alt", or an XML path.
    scale_factor: image pyramid step; smaller finds more faces, slower.
    min_neighbors: overlapping hits needed to accept a face; the score is
        ``hits / (hits + min_neighbors)`` so it is 0.5 at the acceptance limit.
    min_face_size: smallest face side searched, in source pixels.
    """

    name = "haar"

    def __init__(self, cascade: str = "default", scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_face_size: int = 20) -> None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise UserError(f"haar detector needs OpenCV 4.x (this is OpenCV {cv2.__version__}, which dropped "
                            f"Haar cascades); install opencv-python-headless<5 or use 'blazeface'")
        if scale_factor <= 1.0:
            raise UserError(f"haar scale_factor must be > 1, got {scale_factor}")
        if min_neighbors < 1 or min_face_size < 1:
            raise UserError("haar min_neighbors and min_face_size must be at least 1")
        path = cascade_path(cascade)
        self.classifier = cv2.CascadeClassifier(str(path))
        if self.classifier.empty():
            raise UserError(f"{path}: not a readable Haar cascade")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_face_size = int(min_face_size)

    def __call__(self, image_bgr: np.ndarray) -> list[Detection]:
        image = check_image(image_bgr)
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        size = (self.min_face_size, self.min_face_size)
        rects, hits = self.classifier.detectMultiScale2(gray, scaleFactor=self.scale_factor,
                                                        minNeighbors=self.min_neighbors, minSize=size)
        dets = []
        for (x, y, w, h), n in zip(np.asarray(rects).reshape(-1, 4), np.asarray(hits).reshape(-1)):
            dets.append(Detection(np.array([x, y, x + w, y + h], dtype=np.float64),
                                  float(n) / (float(n) + self.min_neighbors)))
        return finish(dets, image)
