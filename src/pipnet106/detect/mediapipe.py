"""MediaPipe's own face detection, for users who have `mediapipe` installed.

Same networks as the bundled BlazeFace backend, run by MediaPipe's graph; useful
as a reference. Imported lazily: pipnet106 never needs mediapipe.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import UserError
from .base import Detection, check_image, finish


class MediaPipeDetector:
    """model: "full" (model_selection=1) or "short" (0); score_threshold = min_detection_confidence."""

    name = "mediapipe"

    def __init__(self, model: str = "full", score_threshold: float = 0.5) -> None:
        if model not in ("short", "full"):
            raise UserError(f"mediapipe model must be short or full, got '{model}'")
        try:
            import mediapipe as mp
        except ImportError:
            raise UserError("the 'mediapipe' detector needs the mediapipe package (pip install mediapipe); "
                            "the built-in 'blazeface' detector runs the same networks without it") from None
        face_detection = getattr(getattr(mp, "solutions", None), "face_detection", None)
        if face_detection is None:
            raise UserError(f"this mediapipe ({getattr(mp, '__version__', '?')}) has no solutions.face_detection; "
                            f"use the built-in 'blazeface' detector")
        self._fd = face_detection.FaceDetection(model_selection=1 if model == "full" else 0,
                                                min_detection_confidence=float(score_threshold))

    def __call__(self, image_bgr: np.ndarray) -> list[Detection]:
        image = check_image(image_bgr)
        h, w = image.shape[:2]
        result = self._fd.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        dets = []
        for d in result.detections or []:
            b = d.location_data.relative_bounding_box
            box = np.array([b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h])
            kps = np.array([[k.x * w, k.y * h] for k in d.location_data.relative_keypoints]) \
                if d.location_data.relative_keypoints else None
            dets.append(Detection(box, float(d.score[0]), kps))
        return finish(dets, image)
