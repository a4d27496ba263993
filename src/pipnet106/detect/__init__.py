"""Face detectors for the top-down landmark pipeline (offline, no download at run time).

``get_detector("blazeface")`` is the default; see `base.DETECTORS` for all names.
Any callable ``image_bgr -> list[Detection]`` can be used in place of these.
"""
from .base import (DEFAULT_DETECTOR, DETECTORS, Detection, FaceDetector, as_detector, box_containment, box_iou,
                   get_detector, nms, register_detector, run_detector)
from .boxes import BoxesDetector, load_boxes

__all__ = [
    "Detection", "FaceDetector", "DETECTORS", "DEFAULT_DETECTOR", "get_detector", "as_detector",
    "register_detector", "run_detector", "nms", "box_iou", "box_containment", "BoxesDetector", "load_boxes",
]
