"""Values that training, export and inference must agree on, in one torch-free place.

`export` writes them into an ONNX file and `backends` reads them back without
torch, so neither may define its own copy: a changed mean, name or metadata key
would otherwise make a model that loads but predicts garbage.
"""
from __future__ import annotations

from pathlib import Path

# ---- files shipped inside the package (the one definition of where they are)
ASSETS = Path(__file__).resolve().parent / "assets"
STARTER_PT = ASSETS / "starter.pt"
"""The starter as a float16 inference checkpoint (PyTorch, and `train --init starter`)."""
STARTER_ONNX = ASSETS / "starter.onnx"
STARTER_INT8_ONNX = ASSETS / "starter_int8.onnx"
STARTER_PARTS = {"eye": ASSETS / "starter_eye.onnx", "mouth": ASSETS / "starter_mouth.onnx"}
"""The shipped part models of the local stage (`infer.parts`), run after the face model with
`--parts starter` (`Landmarker(parts=...)`): each eye (ring, centre, pupil, 80 px) and the mouth
(outer and inner lip lines, 96 px) re-cropped at about 3x (eyes) and 1.8x (mouth) the face model's
pixel density and refined. Opt-in: about 2.5x the per-face time (docs/model-card.md)."""
DEMO_PHOTO = ASSETS / "demo" / "group4.jpg"
MESH_TABLE = ASSETS / "mediapipe478_to_106.json"
REFERENCE_MEANFACE = {"lapa106": ASSETS / "lapa106_meanface.txt"}
"""A mean face per layout (the starter's, in its crop's [0, 1] units) for points a converted
dataset never labels (`meanface.fill_meanface`)."""
"""The teacher's MediaPipe 478 -> LaPa 106 table (`teacher.autolabel`)."""

# ---- network input normalization (torchvision ImageNet statistics, RGB order, on [0, 1] pixels)
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# ---- ONNX export contract
ONNX_FORMAT = "pipnet106-onnx"
"""Value of the `format` metadata key that marks a pipnet106 export."""
ONNX_VERSION = 1
"""Version of the file contract written by `export`; `backends` reads versions 1..ONNX_VERSION."""
INPUT_FORMATS = ("uint8_nhwc_bgr", "float_nchw_rgb")
"""uint8 BGR crops as `crop.CropTransform.apply` gives them (normalization inside the graph),
or float RGB in [0, 1], channels first, for runtimes that cannot take uint8."""
INPUT_NAME = "image"
OUTPUT_NAMES = ("points", "conf")
"""Normalized points (B, N, 2) in crop fractions, and per-point confidence (B, N)."""
VISIBILITY_OUTPUT = "visibility"
"""Optional third output (B, N) in [0, 1]: how likely each point is visible, not covered (models
trained with `visibility: true`)."""
REQUIRED_META = ("layout", "num_points", "input_size", "input_format", "grayscale", "crop_enlarge")
"""Metadata keys without which an ONNX file cannot be run correctly."""
MOBILE_FORMATS = {"ncnn": "pipnet106-ncnn", "tflite": "pipnet106-tflite", "coreml": "pipnet106-coreml"}
"""`format` metadata of the phone runtimes' files (`deploy.mobile`), read by `infer.mobile_backends`;
the other keys are the ONNX export's."""

# ---- model zoo names (checked by config validation without importing torch)
BACKBONE_NAMES = ("mobilenet_v2", "mobilenet_v2_s8", "mobilenet_v3_small", "mobilenet_v3_large", "resnet18", "resnet50",
                  "resnet101")
"""Backbones built into `models.backbones`; more may be added there with `register_backbone`."""
MBV2_WIDTHS = (1280, 640, 320)
"""Allowed final widths of the mobilenet_v2 backbone (0 in a config = the default 1280)."""
NET_STRIDES = (8, 16, 32, 64, 128)
"""Allowed `net_stride` values: 8 (a stride-8 backbone, `mobilenet_v2_s8`), 16 (the backbone's last
downsampling removed) and 32 read every cell of the backbone's map; 64 and 128 read every 2nd / 4th cell."""
HEAD_NAMES = ("pip", "regression", "simcc", "heatmap")
"""Config key `head`: PIPNet (the default), PFLD-style coordinate regression, RTMPose-style SimCC and a
SimpleBaseline-style heatmap (`models.heads`, `models.head_codecs`; docs/heads.md compares them)."""
OCCLUDER_KINDS = ("box", "hand", "hair", "glasses", "mask", "phone", "texture")
"""What the occlusion augmentation can draw (`data.occluders`); config key `occluders`."""
VISIBLE_MIN = 0.5
"""Per-point visibility (`Face.visibility`) below this means covered: `draw` draws those points hollow,
the retouch fades its edits near them (in proportion to how far below), the visibility benchmark counts
them as found, and `tools/calibrate_visibility.py` sets a trained head's logits against this line."""
