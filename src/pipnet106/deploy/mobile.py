"""Phone runtimes: `pipnet106 export --format ncnn|tflite|coreml`.

Every file is made by the runtime's own maintained converter (optional extras, never
a hand-written converter) from the same `InferenceModule` the ONNX export traces, and
checked by the runtime's own interpreter before it is written:

| runtime | converter (extra) | checked by | input | decoding |
|---|---|---|---|---|
| ncnn | pnnx (`[ncnn]`) | ncnn's Python binding | float (3,S,S) RGB in [0, 1] | in the graph, dense (no argmax/gather) |
| LiteRT | litert-torch (`[tflite]`) | ai-edge-litert's interpreter | uint8 (1,S,S,3) BGR | in the graph, argmax + gather |
| Core ML | coremltools (`[coreml]`) | coremltools' spec checks | RGB image | in the graph, argmax + gather |

What the graph needed: pnnx maps argmax, gather and integer indexing to no ncnn layer,
so the ncnn graph decodes with `decode.DenseDecoding` (one-hot weights and matmuls,
the same points); ncnn takes float input (a uint8 -> float cast has no layer either).
litert-torch keeps argmax and gather (ARG_MAX, GATHER_ND; int64 becomes int32) and takes
uint8 input; its int8 quantizer needs the normalization conv's weights as constants
(`PhoneModule` keeps them as buffers). Core ML takes no uint8 input: it gets an RGB
image input (`ImageType`, scale 1/255). Core ML runs only on Apple systems: on Linux
the model is validated by coremltools (conversion's type checks, the saved spec's
inputs, outputs and metadata), and runtime parity needs a Mac.

Each file carries the ONNX export's metadata (layout, input size, crop enlarge,
input format, training_data_terms...) plus `outputs`: inside the .tflite (a `pipnet106`
metadata entry) and the .mlpackage (user-defined metadata; the terms also as its licence),
in a sidecar `<name>.json` beside ncnn's .param/.bin, which have no metadata field.
A model trained with `visibility: true` keeps its third output, visibility (1, N), in
every format, as in the ONNX file. Part models (`export --parts`) export to ONNX only.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..constants import INPUT_NAME, MOBILE_FORMATS, VISIBILITY_OUTPUT
from ..errors import UserError
from ..fileio import atomic_write_bytes
from ..infer.mobile_backends import quiet_native_output
from ..models.checkpoint import LoadedModel, load_model
from ..models.decode import DenseDecoding
from ..models.inference import InferenceModule
from .export import metadata

RUNTIMES = ("ncnn", "tflite", "coreml")
SUFFIX = {"ncnn": ".param", "tflite": ".tflite", "coreml": ".mlpackage"}
PLAN = {"ncnn": ("float_nchw_rgb", "dense"), "tflite": ("uint8_nhwc_bgr", "gather"),
        "coreml": ("float_nchw_rgb", "gather")}
"""Per runtime: the input format it takes and how its graph decodes (see the module docstring)."""
DECODINGS = ("gather", "dense")
DECODING_WORDS = {"gather": "in the graph (argmax + gather)", "dense": "in the graph (one-hot matmuls, no argmax/gather)"}
PRECISIONS = {"ncnn": ("fp32", "fp16"), "tflite": ("fp32", "fp16", "int8"), "coreml": ("fp32", "fp16")}
FLOAT_TOL = 1e-3
"""Max |runtime - PyTorch| of points (fraction of the crop side) and confidences for float32 files,
at points whose best cells win by more than `TIE_MARGIN` (0.2% of an inter-ocular distance of ~0.45)."""
TIE_MARGIN = 1e-3


@dataclass
class MobileReport:
    runtime: str
    path: Path
    files: list[Path]
    size_bytes: int
    input_format: str
    decoding: str
    precision: str
    points_diff: float | None
    """max |runtime - PyTorch| of points (crop fraction) at steady cells; None where the runtime is not here"""
    conf_diff: float | None
    points_checked: int = 0
    notes: list[str] = field(default_factory=list)
    terms: str = ""
    """the training data terms the file carries"""
    outputs: str = ""
    """the file's outputs in order: points,conf[,visibility]"""


class PhoneModule(InferenceModule):
    """`InferenceModule` as the phone converters need it: the same function, two changes of form.

    `decoding="dense"` decodes with `DenseDecoding` (no argmax, gather or integer tensors: ncnn has
    no layer for them); and the input normalization's 1x1 conv weight and bias are buffers, not
    built from the mean/std buffers at run time (torch.export keeps the ops that build them, and
    LiteRT's int8 quantizer then took the weight for an activation). The ONNX export keeps
    `InferenceModule` itself, so its files are unchanged."""

    def __init__(self, loaded: LoadedModel, input_format: str, decoding: str = "gather") -> None:
        cfg = loaded.cfg
        super().__init__(loaded.model, loaded.decoder, cfg.input_size, cfg.grayscale, input_format)
        if decoding not in DECODINGS:
            raise UserError(f"unknown decoding {decoding!r}; known: {', '.join(DECODINGS)}")
        self.decoding = decoding
        self.dense = DenseDecoding(loaded.decoder, cfg.input_size // loaded.model.net_stride) \
            if decoding == "dense" else None
        uint8 = input_format == "uint8_nhwc_bgr"
        norm_w, norm_b = super()._normalizer(bgr=uint8, scale=255.0 if uint8 else 1.0)
        self.register_buffer("norm_w", norm_w, persistent=False)
        self.register_buffer("norm_b", norm_b, persistent=False)
        self.loaded = loaded
        self.to(next(loaded.model.parameters()).device).eval()

    def _normalizer(self, bgr: bool, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        return self.norm_w, self.norm_b   # made for this module's input format in __init__

    def points_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.dense is None:
            return super().points_and_features(x)
        score, feats = self.model(self.preprocess(x), offsets=False)
        pts, conf, extra = self.dense(score, feats, *self.model.point_heads())
        vis = (torch.sigmoid(extra[..., 0]),) if VISIBILITY_OUTPUT in self.output_names else ()
        return (pts, conf, *vis, score, feats)


def export_mobile(weights: str | Path, out: str | Path, runtime: str, precision: str = "fp32",
                  calib: str | Path | np.ndarray | None = None, calib_count: int = 300) -> MobileReport:
    """Checkpoint -> a checked file for `runtime`; nothing is written unless the check passes.

    `precision`: fp32, fp16 (weights stored in float16; Core ML also computes in float16) or, for
    LiteRT, int8 (static int8 convolutions; `calib` a prepared folder, or uint8 BGR crops (K,S,S,3))."""
    out = Path(out)
    _check_request(out, runtime, precision, calib)
    loaded = load_model(weights, device="cpu")
    if loaded.cfg.part:
        raise UserError(f"{weights}: a {loaded.cfg.part} part model; part models export to ONNX only "
                        "(--format onnx --parts)")
    if getattr(loaded.cfg, "head", "pip") != "pip":
        raise UserError(f"{weights}: a {loaded.cfg.head} head; the phone formats take PIPNet models (head: pip), "
                        "export this one to ONNX")
    input_format, decoding = PLAN[runtime]
    module = PhoneModule(loaded, input_format, decoding)
    meta = {**metadata(loaded, input_format), "format": MOBILE_FORMATS[runtime], "runtime": runtime,
            "decoding": decoding, "weights": {"fp32": "float32", "fp16": "float16", "int8": "int8"}[precision],
            "outputs": ",".join(module.output_names), "source": Path(weights).name}
    crops = calib if isinstance(calib, np.ndarray) else None
    if precision == "int8" and crops is None:
        from .quantize import calibration_crops

        crops = calibration_crops(calib, loaded.cfg.input_size, loaded.layout.num_points, calib_count)
    convert = {"ncnn": _export_ncnn, "tflite": _export_tflite, "coreml": _export_coreml}[runtime]
    rep = convert(module, out, meta, precision, crops)
    rep.outputs = meta["outputs"]
    return rep


def _check_request(out: Path, runtime: str, precision: str, calib) -> None:
    """One-line errors for a request no converter can meet, before anything is loaded."""
    if runtime not in RUNTIMES:
        raise UserError(f"unknown runtime {runtime!r}; known: onnx, {', '.join(RUNTIMES)}")
    if precision not in PRECISIONS[runtime]:
        raise UserError(f"--format {runtime} offers {', '.join(PRECISIONS[runtime])}, not {precision}")
    if precision == "int8" and calib is None:
        raise UserError("--int8 needs --calib DATA: a prepared folder (`pipnet106 prepare`) of a few hundred crops")
    if out.suffix.lower() != SUFFIX[runtime]:
        raise UserError(f"{out}: --format {runtime} writes a {SUFFIX[runtime]} file")


def _need(module_name: str, runtime: str):
    import importlib

    try:
        with quiet_native_output():  # coremltools warns at import (untested torch, no Core ML framework here)
            return importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise UserError(f"--format {runtime} needs the Python package of its converter ({module_name}): "
                        f"pip install 'pipnet106[{runtime}]'") from None


def _tail(log: Path, lines: int = 3) -> str:
    text = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return " | ".join(t.strip() for t in text[-lines:])[:300]


def verify(module: InferenceModule, backend, seed: int = 1, count: int = 4) -> tuple[float, float, int]:
    """(max point diff at steady cells, max conf or visibility diff, points compared): `backend`
    (uint8 BGR crops in) against PyTorch on random crops. Points whose best cell (or a voter's) is
    within `TIE_MARGIN` of the runner-up are left out: float rounding may pick either cell there
    (visibility is read at the best cell, so it is compared at the same points)."""
    rng = np.random.default_rng(seed)
    s = module.input_size
    crops = rng.integers(0, 256, size=(count, s, s, 3), dtype=np.uint8)
    x = torch.from_numpy(crops)
    if module.input_format == "float_nchw_rgb":
        x = torch.from_numpy(np.ascontiguousarray(crops[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / 255.0)
    with torch.inference_mode():
        score = module.model(module.preprocess(x), offsets=False)[0]
        tp, tc, *tv = (t.numpy() for t in module(x))
        steady = module.decoder.steady(score, TIE_MARGIN).numpy()
    bp, bc, bv = backend.predict(crops)
    if (bv is None) != (not tv):
        raise UserError(f"{backend.path}: the converted model {'lacks' if bv is None else 'adds'} the visibility output")
    dp = float(np.abs(bp - tp)[steady].max()) if steady.any() else 0.0
    dc = float(np.abs(bc - tc).max())
    if tv and steady.any():
        dc = max(dc, float(np.abs(bv - tv[0])[steady].max()))
    return dp, dc, int(steady.sum())


def _check_diffs(out: Path, precision: str, dp: float, dc: float) -> None:
    if not (np.isfinite(dp) and np.isfinite(dc)):
        raise UserError(f"{out}: the converted model gives non-finite points; file not written")
    if precision == "fp32" and not (dp < FLOAT_TOL and dc < FLOAT_TOL):
        raise UserError(f"{out}: the runtime disagrees with PyTorch (max point diff {dp:.2e} of the crop side, "
                        f"conf {dc:.2e}); file not written")


# ----------------------------------------------------------------------------- ncnn

def _export_ncnn(module: InferenceModule, out: Path, meta: dict, precision: str, crops) -> MobileReport:
    pnnx = _need("pnnx", "ncnn")
    from ..infer.mobile_backends import NcnnBackend

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        log = t / "pnnx.log"
        paths = {k: str(t / f"model{k}") for k in (".pt", ".param", ".bin", ".pnnx.param", ".pnnx.bin", ".py",
                                                    "_ncnn.py", ".pnnx.onnx")}
        with quiet_native_output(log), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit.trace's deprecation and tracer warnings
            pnnx.export(module, paths[".pt"], (module.example_input(batch=1),), ncnnparam=paths[".param"],
                        ncnnbin=paths[".bin"], pnnxparam=paths[".pnnx.param"], pnnxbin=paths[".pnnx.bin"],
                        pnnxpy=paths[".py"], ncnnpy=paths["_ncnn.py"], pnnxonnx=paths[".pnnx.onnx"],
                        fp16=precision == "fp16")
        param, binf = Path(paths[".param"]), Path(paths[".bin"])
        if not (param.is_file() and binf.is_file()):
            raise UserError(f"{out}: pnnx wrote no ncnn model ({_tail(log)})")
        left = unconverted_ncnn_layers(param.read_text())
        if left:
            raise UserError(f"{out}: pnnx left operators ncnn has no layer for: {', '.join(left)}")
        side = param.with_suffix(".json")
        blobs = ",".join(f"out{i}" for i in range(len(module.output_names)))   # pnnx names outputs out0, out1...
        side.write_text(json.dumps({**meta, "input_blob": "in0", "output_blobs": blobs}, indent=1))
        dp, dc, n = verify(module, NcnnBackend(param, threads=1))
        _check_diffs(out, precision, dp, dc)
        files = [out, out.with_suffix(".bin"), out.with_suffix(".json")]
        for src, dst in zip((param, binf, side), files):
            atomic_write_bytes(dst, src.read_bytes())
    size = sum(f.stat().st_size for f in files[:2])
    return MobileReport("ncnn", out, files, size, module.input_format, meta["decoding"], precision, dp, dc, n,
                        terms=meta.get("training_data_terms", ""))


def unconverted_ncnn_layers(param_text: str) -> list[str]:
    """Layer types in an ncnn .param that ncnn has no layer for (pnnx leaves torch/pnnx op names,
    e.g. torch.argmax, Tensor.index, pnnx.Expression, when it cannot map an operator)."""
    kinds = {line.split()[0] for line in param_text.splitlines()[2:] if line.strip()}
    return sorted(k for k in kinds if "." in k)


# ----------------------------------------------------------------------------- LiteRT

def _export_tflite(module: InferenceModule, out: Path, meta: dict, precision: str, crops) -> MobileReport:
    litert_torch = _need("litert_torch", "tflite")
    from ..infer.mobile_backends import LiteRTBackend

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        log, path = t / "convert.log", t / "model.tflite"
        try:
            with quiet_native_output(log):
                litert_torch.convert(module, (module.example_input(batch=1),)).export(str(path))
        except Exception as e:
            raise UserError(f"{out}: litert-torch could not convert the model ({type(e).__name__}: "
                            f"{(str(e).splitlines() or [''])[0][:200]})") from None
        data = path.read_bytes()
        if precision != "fp32":
            with quiet_native_output(log):
                data = _quantize_tflite(data, precision, crops)
        data = with_tflite_metadata(data, meta)
        path.write_bytes(data)
        dp, dc, n = verify(module, LiteRTBackend(path, threads=1))
        _check_diffs(out, precision, dp, dc)
        atomic_write_bytes(out, data)
    return MobileReport("tflite", out, [out], len(data), module.input_format, meta["decoding"], precision, dp, dc, n,
                        terms=meta.get("training_data_terms", ""))


TFLITE_WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")
"""What ai-edge-quantizer quantizes: the network's convolutions. Decoding (argmax, gather, the offset heads'
BATCH_MATMUL at the best cells) and the adds between stay float: 8-bit adds in decoding moved points by
up to half the face, measured."""


def _quantize_tflite(data: bytes, precision: str, crops) -> bytes:
    """fp16: convolution weights stored as float16; int8: static int8 convolutions calibrated on `crops`."""
    from ai_edge_quantizer import quantizer

    q = quantizer.Quantizer(bytearray(data))
    if precision == "fp16":
        q.load_quantization_recipe([{"regex": ".*", "operation": op, "algorithm_key": "float_casting",
                                     "op_config": {"weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
                                                   "compute_precision": "FLOAT", "explicit_dequantize": True}}
                                    for op in TFLITE_WEIGHT_OPS])
        return bytes(q.quantize().quantized_model)
    for op in TFLITE_WEIGHT_OPS:
        q.add_static_config(regex=".*", operation_name=op, activation_num_bits=8, weight_num_bits=8)
    name = _tflite_input_name(data)
    ranges = q.calibrate({"serving_default": [{name: c[None]} for c in crops]})
    return bytes(q.quantize(ranges).quantized_model)


def _tflite_input_name(data: bytes) -> str:
    from ai_edge_litert.interpreter import Interpreter

    sig = Interpreter(model_content=data).get_signature_list()["serving_default"]
    return sig["inputs"][0]


def with_tflite_metadata(data: bytes, meta: dict[str, str]) -> bytes:
    """The .tflite with `meta` as JSON in a `pipnet106` metadata entry (the flatbuffer's own
    name -> buffer table, which runtimes ignore), replacing an earlier one."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from ..infer.mobile_backends import TFLITE_META_NAME

    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    for b in model.buffers:  # ai-edge-quantizer stores large buffers after the flatbuffer: bring them inside
        if b.offset > 1:
            b.data = np.frombuffer(data, np.uint8, count=b.size, offset=b.offset)
            b.offset = b.size = 0
    buf = schema.BufferT()
    buf.data = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name, entry.buffer = TFLITE_META_NAME, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != TFLITE_META_NAME.encode()] + [entry]
    builder = flatbuffers.Builder(len(data) + 65536)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


# ----------------------------------------------------------------------------- Core ML

def _export_coreml(module: InferenceModule, out: Path, meta: dict, precision: str, crops) -> MobileReport:
    ct = _need("coremltools", "coreml")
    x = module.example_input(batch=1)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        log, path = t / "convert.log", t / out.name
        try:
            with quiet_native_output(log), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # coremltools' deprecations and untested-torch notes
                program = torch.export.export(module, (x,)).run_decompositions({})
                ml = ct.convert(program, inputs=[ct.ImageType(name=INPUT_NAME, shape=tuple(x.shape), scale=1 / 255.0,
                                                               color_layout=ct.colorlayout.RGB)],
                                outputs=[ct.TensorType(name=n) for n in module.output_names], convert_to="mlprogram",
                                minimum_deployment_target=ct.target.iOS16,
                                compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32)
        except Exception as e:
            raise UserError(f"{out}: coremltools could not convert the model ({type(e).__name__}: "
                            f"{(str(e).splitlines() or [''])[0][:200]})") from None
        ml.user_defined_metadata.update(meta)
        ml.license = meta.get("training_data_terms", "")
        ml.short_description = (f"pipnet106 {meta['layout']} landmarks: RGB image {module.input_size}x"
                                f"{module.input_size} -> points (1,N,2) normalized to the crop, conf (1,N)"
                                + (", visibility (1,N)" if len(module.output_names) > 2 else ""))
        ml.version = __version__
        with quiet_native_output(log):
            ml.save(str(path))
        notes = check_coreml(path, meta, module.input_size, module.num_points, module.output_names)
        _replace_dir(path, out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return MobileReport("coreml", out, [out], size, module.input_format, meta["decoding"], precision, None, None, 0,
                        notes, meta.get("training_data_terms", ""))


def check_coreml(path: Path, meta: dict, size: int, num_points: int, outputs: tuple[str, ...]) -> list[str]:
    """coremltools' own checks of a saved .mlpackage, without running it (Core ML needs macOS):
    the spec loads, its input is a size x size RGB image, its outputs are points (1,N,2), conf (1,N)
    [and visibility (1,N)], and the metadata came through. Returns notes for the report."""
    import coremltools as ct

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    d = spec.description
    img = d.input[0].type.imageType if len(d.input) == 1 else None
    if img is None or (img.width, img.height) != (size, size) or img.colorSpace != ct.proto.FeatureTypes_pb2.ImageFeatureType.RGB:
        raise UserError(f"{path}: Core ML input is not a {size}x{size} RGB image")
    shapes = {o.name: tuple(o.type.multiArrayType.shape) for o in d.output}
    want = {name: (1, num_points, 2) if i == 0 else (1, num_points) for i, name in enumerate(outputs)}
    if shapes != want:
        raise UserError(f"{path}: Core ML outputs {shapes} are not {want}")
    kept = dict(d.metadata.userDefined)
    if any(kept.get(k) != v for k, v in meta.items()):
        raise UserError(f"{path}: metadata did not survive saving")
    ops = sorted({op.type for f in spec.mlProgram.functions.values()
                  for b in f.block_specializations.values() for op in b.operations} - {"const"})
    return [f"Core ML spec checked (mlprogram, iOS16+, ops: {', '.join(ops)}); running it needs macOS"]


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the directory `src` to `dst`, replacing what was there only once the new one is in place."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    shutil.move(str(src), str(staged / dst.name))
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
    os.replace(staged / dst.name, dst)
    shutil.rmtree(staged, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
