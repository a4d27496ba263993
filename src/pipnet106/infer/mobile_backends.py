"""Backends over the phone runtimes' exports, run by the runtimes' own Python interpreters.

`pipnet106 export --format ncnn|tflite` (`deploy.mobile`) writes files that an app runs
with ncnn or LiteRT; these backends run the same files with the same runtimes' Python
packages (ncnn's binding, ai-edge-litert), behind the `backends.Backend` interface: uint8
BGR crops (B, S, S, 3) in, points (B, N, 2) normalized to the crop, conf (B, N) and, for a
model trained with `visibility: true`, visibility (B, N) out. So `Landmarker.from_path`,
predict, eval and bench take them like an ONNX file, and the parity tests compare every
runtime on the same crops.

Both graphs hold one face (batch 1, as an app runs them), so crops run one after
another. No torch here: a phone app's Python twin needs only the runtime.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from ..constants import MOBILE_FORMATS, OUTPUT_NAMES, VISIBILITY_OUTPUT
from ..errors import UserError
from ..layout import Layout
from .backend_base import Backend, _check_layout, apply_meta

TFLITE_META_NAME = "pipnet106"
"""Name of the .tflite metadata entry (the flatbuffer's name -> buffer table) holding the JSON metadata."""


@contextlib.contextmanager
def quiet_native_output(log: str | Path = os.devnull):
    """Send what native code writes to file descriptors 1 and 2 to `log` (the converters' progress
    bars, LiteRT's "Created TensorFlow Lite XNNPACK delegate" line): Python's redirection misses it."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(log, "ab") as f:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def output_names(meta: dict[str, str]) -> list[str]:
    """The file's outputs in order, from its metadata `outputs` ('points,conf' or 'points,conf,visibility')."""
    return [n for n in meta.get("outputs", ",".join(OUTPUT_NAMES)).split(",") if n]


class _OneFaceBackend(Backend):
    """Shared part: metadata checks, the input conversion, one crop per run."""

    threads: int | None
    meta: dict[str, str]

    def _setup(self, want_format: str, layout: str | Layout | None) -> None:
        apply_meta(self, want_format)
        _check_layout(self.path, self.layout, layout)
        self.outputs = output_names(self.meta)
        if self.outputs[:2] != list(OUTPUT_NAMES) or self.outputs[2:] not in ([], [VISIBILITY_OUTPUT]):
            raise UserError(f"{self.path}: unknown outputs {self.outputs} in its metadata; re-export the model")
        self.has_visibility = VISIBILITY_OUTPUT in self.outputs

    def _input(self, crop: np.ndarray) -> np.ndarray:
        """One uint8 BGR crop (S, S, 3) -> the file's input: itself, or float (3, S, S) RGB in [0, 1]
        (what `OnnxBackend` feeds a float_nchw_rgb file)."""
        if self.input_format == "uint8_nhwc_bgr":
            return crop
        return np.ascontiguousarray(crop[..., ::-1].transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)

    def _run(self, crop: np.ndarray) -> list[np.ndarray]:
        """One crop -> its outputs in the order of `self.outputs`."""
        raise NotImplementedError

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        a = self.check_crops(crops)
        if len(a) == 0:
            return self._empty()
        n, b = self.num_points, len(a)
        outs = list(zip(*(self._run(c) for c in a)))
        try:
            pts = np.stack(outs[0]).astype(np.float32, copy=False).reshape(b, n, 2)
            conf, *vis = (np.stack(o).astype(np.float32, copy=False).reshape(b, n) for o in outs[1:])
        except ValueError:
            raise UserError(f"{self.path}: outputs {[o.shape for o in outs[0][:1]]} are not {n} points; "
                            "re-export the model") from None
        return pts, conf, (vis[0] if vis else None)


def _threads(threads: int | None) -> int:
    return int(threads) if threads else max(1, os.cpu_count() or 1)


class NcnnBackend(_OneFaceBackend):
    """`pipnet106 export --format ncnn`: NAME.param + NAME.bin, metadata in NAME.json beside them."""

    name = "ncnn"

    def __init__(self, path: str | Path, threads: int | None = None, layout: str | Layout | None = None) -> None:
        p = Path(path)
        self.path, self.threads = p, threads
        for f, what in ((p, "ncnn model (.param)"), (p.with_suffix(".bin"), "ncnn weights (.bin)"),
                        (p.with_suffix(".json"), "pipnet106 metadata (.json)")):
            if not f.is_file():
                raise UserError(f"{f}: {what} not found (an ncnn export is NAME.param, NAME.bin and NAME.json)")
        try:
            import ncnn
        except ModuleNotFoundError:
            raise UserError(f"{p}: running ncnn models needs ncnn's Python binding "
                            "(pip install 'pipnet106[ncnn]')") from None
        try:
            self.meta = {k: str(v) for k, v in json.loads(p.with_suffix(".json").read_text()).items()}
        except (ValueError, AttributeError, UnicodeDecodeError):
            raise UserError(f"{p.with_suffix('.json')}: not a JSON object of pipnet106 metadata") from None
        self._setup(MOBILE_FORMATS["ncnn"], layout)
        net = ncnn.Net()
        net.opt.use_vulkan_compute = False
        net.opt.num_threads = _threads(threads)
        if net.load_param(str(p)) != 0 or net.load_model(str(p.with_suffix(".bin"))) != 0:
            raise UserError(f"{p}: ncnn could not load the model (.param/.bin)")
        self.net, self._mat = net, ncnn.Mat
        self.input_blob = self.meta.get("input_blob", "in0")
        self.output_blobs = self.meta.get("output_blobs", "out0,out1").split(",")
        if len(self.output_blobs) != len(self.outputs):
            raise UserError(f"{p.with_suffix('.json')}: {len(self.output_blobs)} output blobs for outputs "
                            f"{self.outputs}; re-export the model")

    def _run(self, crop: np.ndarray) -> list[np.ndarray]:
        x = self._input(crop)   # kept alive until the outputs are read: ncnn.Mat wraps its buffer, no copy
        ex = self.net.create_extractor()
        ex.input(self.input_blob, self._mat(x))
        outs = []
        for name in self.output_blobs:
            rc, mat = ex.extract(name)
            if rc != 0:
                raise UserError(f"{self.path}: ncnn found no output blob {name!r}; re-export the model")
            outs.append(np.array(mat))
        return outs


def read_tflite_metadata(data: bytes) -> dict[str, str]:
    """The `pipnet106` metadata of a .tflite file's bytes ({} when it has none)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == TFLITE_META_NAME.encode():
            buf = model.Buffers(entry.Buffer())
            raw = data[buf.Offset():buf.Offset() + buf.Size()] if buf.Offset() > 1 else bytes(buf.DataAsNumpy())
            return {k: str(v) for k, v in json.loads(raw.decode()).items()}
    return {}


class LiteRTBackend(_OneFaceBackend):
    """`pipnet106 export --format tflite`: one .tflite with its metadata inside, run by ai-edge-litert."""

    name = "litert"

    def __init__(self, path: str | Path, threads: int | None = None, layout: str | Layout | None = None) -> None:
        p = Path(path)
        self.path, self.threads = p, threads
        if not p.is_file():
            raise UserError(f"{p}: LiteRT model not found")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ModuleNotFoundError:
            raise UserError(f"{p}: running LiteRT models needs ai-edge-litert (pip install 'pipnet106[tflite]')") from None
        data = p.read_bytes()
        try:
            self.meta = read_tflite_metadata(data)
            with quiet_native_output():
                self.interpreter = Interpreter(model_content=data, num_threads=_threads(threads))
                self.interpreter.allocate_tensors()
                runner = self.interpreter.get_signature_runner()
        except Exception as e:  # flatbuffer / interpreter errors
            raise UserError(f"{p}: not a readable LiteRT model ({type(e).__name__})") from None
        self._setup(MOBILE_FORMATS["tflite"], layout)
        self._check_io(runner.get_input_details(), runner.get_output_details())

    def _check_io(self, ins: dict, outs: dict) -> None:
        """The signature's one input and its outputs output_0, output_1... (the graph's outputs in
        order: points, conf[, visibility]) against the metadata."""
        s, n = self.input_size, self.num_points
        want = ((1, s, s, 3), np.uint8) if self.input_format == "uint8_nhwc_bgr" else ((1, 3, s, s), np.float32)
        d = next(iter(ins.values())) if len(ins) == 1 else None
        if d is None or tuple(d["shape"]) != want[0] or d["dtype"] != want[1]:
            got = ", ".join(f"{v['dtype'].__name__} {tuple(v['shape'])}" for v in ins.values())
            raise UserError(f"{self.path}: inputs ({got}) do not match its metadata ({self.input_format}, "
                            f"size {s}); re-export the model")
        shapes = [(1, n, 2)] + [(1, n)] * (len(self.outputs) - 1)
        got = [outs.get(f"output_{i}") for i in range(len(shapes))]
        if len(outs) != len(shapes) or any(o is None or tuple(o["shape"]) != w or o["dtype"] != np.float32
                                           for o, w in zip(got, shapes)):
            have = ", ".join(f"{k} {v['dtype'].__name__} {tuple(v['shape'])}" for k, v in sorted(outs.items()))
            raise UserError(f"{self.path}: outputs ({have}) are not float32 {', '.join(self.outputs)} "
                            f"{', '.join(map(str, shapes))}; re-export the model")
        self._in, self._out = d["index"], [o["index"] for o in got]

    def _run(self, crop: np.ndarray) -> list[np.ndarray]:
        it = self.interpreter
        it.set_tensor(self._in, self._input(crop)[None])
        it.invoke()
        return [it.get_tensor(i)[0] for i in self._out]
