"""Landmark backends: one interface over a PyTorch checkpoint and an ONNX export (and, in
`mobile_backends`, the ncnn and LiteRT exports).

Both take BGR uint8 face crops (B, S, S, 3), exactly what `crop.CropTransform.apply`
gives, and return points (B, N, 2) normalized to the crop plus confidences (B, N).
Preprocessing and decoding are inside the model in both cases (`models.inference.InferenceModule`),
so the two agree to float rounding.

This module imports without torch: `OnnxBackend` needs only numpy and onnxruntime,
torch is imported inside `TorchBackend` alone. The interface and the metadata reader that
every backend shares are in `backend_base`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..constants import ONNX_FORMAT, OUTPUT_NAMES, VISIBILITY_OUTPUT
from ..errors import UserError
from ..runtime import ort_session_options
from ..layout import Layout
from .backend_base import Backend, _check_layout, apply_meta

_ONNX_DTYPES = {"uint8_nhwc_bgr": "tensor(uint8)", "float_nchw_rgb": "tensor(float)"}


class TorchBackend(Backend):
    """A checkpoint run by PyTorch through `models.inference.InferenceModule` (the same graph ONNX export writes)."""

    name = "torch"

    def __init__(self, module, path: str | Path, threads: int | None = None) -> None:
        import torch

        self.module = module
        self.path = Path(path)
        self.threads = threads
        if threads:
            torch.set_num_threads(int(threads))  # process-wide: torch has no per-model thread pool
        self.device = next(module.parameters()).device
        if module.loaded is None:
            raise ValueError("TorchBackend needs an InferenceModule built from a checkpoint (from_checkpoint)")
        self.layout = module.loaded.layout
        self.input_size = int(module.input_size)
        self.grayscale = bool(module.grayscale)
        self.enlarge = float(module.loaded.cfg.crop_enlarge)
        self.has_visibility = len(module.output_names) > 2

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", threads: int | None = None,
                        layout: str | Layout | None = None) -> "TorchBackend":
        from ..models.inference import InferenceModule

        want = layout.name if isinstance(layout, Layout) else layout
        module = InferenceModule.from_checkpoint(path, "uint8_nhwc_bgr", device=device, layout=want)
        return cls(module, path, threads)

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        import torch

        a = self.check_crops(crops)
        if len(a) == 0:
            return self._empty()
        with torch.inference_mode():
            pts, conf, *vis = self.module(torch.from_numpy(a).to(self.device))
        return (pts.float().cpu().numpy(), conf.float().cpu().numpy(),
                vis[0].float().cpu().numpy() if vis else None)


class OnnxBackend(Backend):
    """A `pipnet106 export` file run by onnxruntime (no torch needed)."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None, providers: Sequence[str] | None = None,
                 layout: str | Layout | None = None) -> None:
        p = Path(path)
        self.path = p
        if not p.is_file():
            raise UserError(f"{p}: ONNX model not found")
        if p.stat().st_size == 0:
            raise UserError(f"{p}: empty file, not an ONNX model")
        try:
            import onnxruntime as ort
        except ModuleNotFoundError:
            raise UserError(f"{p}: running ONNX models needs onnxruntime (pip install 'pipnet106[onnx]')") from None
        so = ort_session_options(threads)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.providers = list(providers) if providers else ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(p), so, providers=self.providers)
        except Exception as e:  # protobuf / graph errors; their text spans lines
            with open(p, "rb") as f:
                zipped = f.read(2) == b"PK"
            hint = "; it looks like a PyTorch checkpoint (use TorchBackend or load_backend)" if zipped else ""
            raise UserError(f"{p}: not a readable ONNX model ({type(e).__name__}){hint}") from None
        self.threads = threads
        self.meta = dict(self.session.get_modelmeta().custom_metadata_map)
        apply_meta(self, ONNX_FORMAT)
        _check_layout(p, self.layout, layout)
        self._check_io()

    def _check_io(self) -> None:
        p, s = self.path, self.input_size
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        want_shape = [s, s, 3] if self.input_format == "uint8_nhwc_bgr" else [3, s, s]
        if (len(ins) != 1 or ins[0].type != _ONNX_DTYPES[self.input_format] or len(ins[0].shape) != 4
                or list(ins[0].shape[1:]) != want_shape):
            got = ", ".join(f"{i.name} {i.type} {i.shape}" for i in ins)
            raise UserError(f"{p}: inputs ({got}) do not match its metadata "
                            f"({self.input_format}, size {s}); re-export the model")
        names = [o.name for o in outs]
        if not set(OUTPUT_NAMES) <= set(names):
            raise UserError(f"{p}: outputs {names} lack {' and '.join(map(repr, OUTPUT_NAMES))}; re-export the model")
        self.input_name = ins[0].name
        self.has_visibility = VISIBILITY_OUTPUT in names
        self.output_names = list(OUTPUT_NAMES) + ([VISIBILITY_OUTPUT] if self.has_visibility else [])

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        a = self.check_crops(crops)
        if len(a) == 0:
            return self._empty()
        if self.input_format == "float_nchw_rgb":
            a = np.ascontiguousarray(a[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
        pts, conf, *vis = self.session.run(self.output_names, {self.input_name: a})
        return (pts.astype(np.float32, copy=False), conf.astype(np.float32, copy=False),
                vis[0].astype(np.float32, copy=False) if vis else None)


def load_backend(path: str | Path, device: str = "cpu", threads: int | None = None,
                 layout: str | Layout | None = None, providers: Sequence[str] | None = None) -> Backend:
    """Open a model file: ONNX exports with onnxruntime, checkpoints with PyTorch, the phone
    runtimes' exports with their own interpreters (ncnn .param, LiteRT .tflite: `mobile_backends`).

    Picks by extension (.onnx; .pt/.pth/.ckpt; .param; .tflite); otherwise by content (a torch
    checkpoint is a zip file, anything else is tried as ONNX).
    """
    p = Path(path)
    if p.suffix.lower() == ".mlpackage":
        raise UserError(f"{p}: Core ML models run on Apple systems only (Core ML); on this machine use the ONNX, "
                        "ncnn or LiteRT export of the same checkpoint")
    if not p.is_file():
        raise UserError(f"{p}: model file not found")
    ext = p.suffix.lower()
    if ext in (".param", ".tflite"):
        from . import mobile_backends

        cls = mobile_backends.NcnnBackend if ext == ".param" else mobile_backends.LiteRTBackend
        return cls(p, threads=threads, layout=layout)
    if ext in (".pt", ".pth", ".ckpt"):
        kind = "torch"
    elif ext == ".onnx":
        kind = "onnx"
    else:
        with open(p, "rb") as f:
            head = f.read(4)
        kind = "torch" if head[:2] == b"PK" or head[:1] == b"\x80" else "onnx"  # zip / legacy pickle
    if kind == "torch":
        try:
            import torch  # noqa: F401
        except ModuleNotFoundError:
            raise UserError(f"{p}: PyTorch checkpoints need torch; export to ONNX with `pipnet106 export` "
                            "on a machine with torch, or install torch") from None
        return TorchBackend.from_checkpoint(p, device=device, threads=threads, layout=layout)
    return OnnxBackend(p, threads=threads, providers=providers, layout=layout)


def part_backends(backend: Backend, threads: int | None = None) -> list[Backend]:
    """The part models (eye, mouth) an ONNX export names in its metadata `parts` (file names next to
    it, with their SHA-256), each checked: a missing or changed file is a one-line error."""
    import hashlib
    import json

    spec = getattr(backend, "meta", {}).get("parts")
    if not spec:
        return []
    try:
        entries = json.loads(spec)
    except ValueError:
        raise UserError(f"{backend.path}: unreadable 'parts' metadata; re-export the model") from None
    out = []
    for name, entry in entries.items():
        p = backend.path.parent / entry["file"]
        if not p.is_file():
            raise UserError(f"{backend.path}: its {name} model {p.name} is missing (it must lie next to the file)")
        if hashlib.sha256(p.read_bytes()).hexdigest() != entry["sha256"]:
            raise UserError(f"{p}: not the {name} model {backend.path.name} was exported with (checksum differs)")
        out.append(OnnxBackend(p, threads=threads))
    return out


def load_parts(names: Sequence[str], threads: int | None = None) -> list[Backend]:
    """Part models by file (ONNX exports of `part: eye|mouth` runs), `starter` meaning the shipped
    ones (`constants.STARTER_PARTS`); a missing file is a one-line error."""
    from ..constants import STARTER_PARTS

    paths = []
    for name in names:
        paths += list(STARTER_PARTS.values()) if name == "starter" else [Path(name)]
    for p in paths:
        if not Path(p).is_file():
            raise UserError(f"{p}: part model not found")
    return [OnnxBackend(p, threads=threads) for p in paths]

