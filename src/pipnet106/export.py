"""``pipnet106 export``: a checkpoint -> one self-contained ONNX file.

`InferenceModule` is the whole inference graph: raw face crops in, normalized
points and confidences out. Preprocessing (uint8 -> float, BGR -> RGB, optional
grayscale, ImageNet normalization) and PIPNet decoding live *inside* it, so the
PyTorch path (`backends.TorchBackend`) and the exported ONNX file run the same
operations and a runtime needs nothing but the file. Its preprocessing is the
graph form of `data.to_input`; a test checks the two agree, so training and
inference cannot drift apart.

The exported file carries what a runtime needs to use it (layout, input size,
crop enlarge factor, ...) as ONNX metadata, read by `backends.OnnxBackend`
without torch. Export writes nothing unless onnx.checker passes and
onnxruntime reproduces the PyTorch outputs (`check_parity`: raw maps, decoding,
and every point whose best cell is not a near-tie).
"""
from __future__ import annotations

import argparse
import copy
import functools
import inspect
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import __version__
from .checkpoint import LoadedModel, load_model, read_checkpoint
from .config import terms_line
from .constants import IMAGENET_MEAN, IMAGENET_STD, INPUT_FORMATS, INPUT_NAME, ONNX_FORMAT, ONNX_VERSION, OUTPUT_NAMES
from .decode import Decoder
from .errors import UserError
from .fileio import atomic_write_bytes

DEFAULT_OPSET = 17
"""Opset 17 (ONNX 1.12, 2022): read by every maintained runtime (onnxruntime >= 1.12, OpenCV DNN,
TensorRT 8.5+, ncnn/MNN converters) and enough for every op the graph uses."""
MAP_NAMES = ("score", "offset_x", "offset_y", "nb_x", "nb_y")
"""The network's raw maps: extra outputs of the graph used for the parity check only (not in the file)."""
PARITY_TOL = 1e-4
"""Max allowed |onnxruntime - PyTorch| for raw maps, points (fraction of the crop side) and confidences."""

# Integer BGR->gray weights (R, G, B, shift) of known OpenCV versions; all are ITU-R 601 luma
# 0.299 R + 0.587 G + 0.114 B in fixed point, rounded as (R*wr + G*wg + B*wb + 2^(shift-1)) >> shift.
_CV2_GRAY_CANDIDATES = ((4899, 9617, 1868, 14),    # OpenCV <= 4.x
                        (9798, 19235, 3735, 15))   # OpenCV 5.x


@functools.lru_cache(maxsize=1)
def cv2_gray_weights() -> tuple[int, int, int, int]:
    """(wr, wg, wb, shift) reproducing the installed cv2's COLOR_BGR2GRAY bit for bit.

    `data.to_input` converts with cv2, whose fixed-point weights changed between
    OpenCV 4 and 5 (the results differ by one grey level on ~0.3% of colours).
    Probing cv2 once lets the graph match the training preprocessing exactly.
    """
    import cv2

    rng = np.random.default_rng(1234)
    probe = rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    ref = cv2.cvtColor(probe, cv2.COLOR_BGR2GRAY).astype(np.int64)
    b, g, r = (probe[..., i].astype(np.int64) for i in range(3))
    for wr, wg, wb, shift in _CV2_GRAY_CANDIDATES:
        if np.array_equal((r * wr + g * wg + b * wb + (1 << (shift - 1))) >> shift, ref):
            return wr, wg, wb, shift
    warnings.warn("cv2 BGR2GRAY uses unknown weights; grayscale preprocessing may differ by one grey level",
                  RuntimeWarning, stacklevel=2)
    return _CV2_GRAY_CANDIDATES[-1]


class InferenceModule(nn.Module):
    """Face crops -> (points (B,N,2) normalized to the crop, conf (B,N)).

    input_format "uint8_nhwc_bgr": uint8 (B,S,S,3) BGR, exactly what OpenCV gives.
    input_format "float_nchw_rgb": float32 (B,3,S,S) RGB in [0, 1].
    With `grayscale`, the crop is reduced to luma first (bit-exact with cv2 for uint8 input;
    for float input the same weights without rounding).
    """

    def __init__(self, model: nn.Module, decoder: Decoder, input_size: int, grayscale: bool = False,
                 input_format: str = "uint8_nhwc_bgr") -> None:
        super().__init__()
        if input_format not in INPUT_FORMATS:
            raise UserError(f"unknown input format {input_format!r}; known: {', '.join(INPUT_FORMATS)}")
        self.model, self.decoder = model, decoder
        self.input_size = int(input_size)
        self.grayscale = bool(grayscale)
        self.input_format = input_format
        self.num_points = int(decoder.num_points)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, dtype=torch.float32).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD, dtype=torch.float32).reshape(1, 3, 1, 1), persistent=False)
        wr, wg, wb, shift = cv2_gray_weights() if self.grayscale else _CV2_GRAY_CANDIDATES[-1]
        self.gray_shift = shift
        # (1,3,1,1) weights in RGB channel order
        self.register_buffer("gray_w", torch.tensor([wr, wg, wb], dtype=torch.float32).reshape(1, 3, 1, 1),
                             persistent=False)
        self.loaded: LoadedModel | None = None

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, input_format: str = "uint8_nhwc_bgr") -> "InferenceModule":
        cfg = loaded.cfg
        module = cls(loaded.model, loaded.decoder, cfg.input_size, cfg.grayscale, input_format)
        module.loaded = loaded
        dev = next(loaded.model.parameters()).device
        return module.to(dev).eval()

    @classmethod
    def from_checkpoint(cls, path: str | Path, input_format: str = "uint8_nhwc_bgr", device: str = "cpu",
                        layout: str | None = None) -> "InferenceModule":
        return cls.from_loaded(load_model(path, layout=layout, device=device), input_format)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Crops in `input_format` -> the network's normalized float (B,3,S,S) RGB input.

        The BGR -> RGB swap, the 1/255 and the mean/std normalization are one 1x1 convolution
        (`_normalizer`): onnxruntime runs per-channel broadcasts slowly next to an int8 network
        (two of them were 11% of the int8 graph at input 128), a 3x3 channel mix it runs fast."""
        if self.input_format == "uint8_nhwc_bgr":
            x = x.permute(0, 3, 1, 2).to(torch.float32)          # (B,3,S,S) BGR, 0..255
            if self.grayscale:
                one = float(1 << self.gray_shift)
                y = (x * self.gray_w.flip(1)).sum(dim=1, keepdim=True)  # BGR order; exact integers in float32
                x = torch.floor((y + one / 2) / one).expand(-1, 3, -1, -1)
            return F.conv2d(x, *self._normalizer(bgr=True, scale=255.0))
        x = x.to(torch.float32)
        if self.grayscale:
            w = self.gray_w / float(1 << self.gray_shift)
            x = (x * w).sum(dim=1, keepdim=True).expand(-1, 3, -1, -1)
        return F.conv2d(x, *self._normalizer(bgr=False, scale=1.0))

    def _normalizer(self, bgr: bool, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        """1x1 conv weight (3,3,1,1) and bias (3,): input channels (BGR or RGB, 0..scale) ->
        (v / scale - mean) / std in RGB order."""
        w = torch.diag(1.0 / (scale * self.std.flatten()))
        if bgr:
            w = w.flip(1)                                         # output c reads input channel 2 - c
        return w.reshape(3, 3, 1, 1), -(self.mean / self.std).flatten()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.points_and_features(x)[:2]

    def points_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """points, conf, then the score map and the heads' features they were decoded from.

        The offset heads run only at the cells decoding reads (`Decoder.at_cells`): the full
        N*K-channel neighbour maps were a fifth of the exported graph's time at input 128."""
        score, feats = self.model(self.preprocess(x), offsets=False)
        return (*self.decoder.at_cells(score, feats, *self.model.point_heads()), score, feats)

    def with_maps(self) -> "nn.Module":
        """The same graph returning the raw maps after (points, conf), for the parity check."""
        return _WithMaps(self).train(self.training)  # a new module would be in training mode, and so the export's
        # restore step would leave this one training (batch statistics in BatchNorm)

    def example_input(self, batch: int = 1, seed: int = 0) -> torch.Tensor:
        """A random input of the right dtype and shape (for tracing and parity checks)."""
        g = torch.Generator().manual_seed(seed)
        s = self.input_size
        if self.input_format == "uint8_nhwc_bgr":
            return torch.randint(0, 256, (batch, s, s, 3), generator=g, dtype=torch.uint8)
        return torch.rand((batch, 3, s, s), generator=g)


class _WithMaps(nn.Module):
    def __init__(self, inner: InferenceModule) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pts, conf, score, feats = self.inner.points_and_features(x)
        return (pts, conf, score, *self.inner.model.offset_maps(feats))


@dataclass
class ExportReport:
    path: Path
    size_bytes: int
    opset: int
    input_format: str
    points_diff: float
    """max |onnxruntime - PyTorch| of points (fraction of the crop side) in the self-check"""
    conf_diff: float
    fp16_points_diff: float | None = None
    """with fp16 weights: max |fp16 file - fp32 file| of points on the same input"""
    maps_diff: float = 0.0
    """max |onnxruntime - PyTorch| of the raw network maps (scores, offsets)"""
    points_checked: int = 0
    """points compared directly with PyTorch: those whose best cells win by more than the maps' noise"""


def metadata(loaded: LoadedModel, input_format: str) -> dict[str, str]:
    """ONNX metadata_props of an export (all values are strings)."""
    cfg = loaded.cfg
    meta = {
        "format": ONNX_FORMAT,
        "version": str(ONNX_VERSION),
        "pipnet106_version": __version__,
        "layout": loaded.layout.name,
        "num_points": str(loaded.layout.num_points),
        "input_size": str(cfg.input_size),
        "input_format": input_format,
        "grayscale": "true" if cfg.grayscale else "false",
        "crop_enlarge": repr(float(cfg.crop_enlarge)),
        "num_nb": str(cfg.num_nb),
        "backbone": cfg.backbone,
        "width": str(int(getattr(loaded.model.backbone, "out_channels", cfg.width))),
        "net_stride": str(cfg.net_stride),
        "grid": str(cfg.input_size // cfg.net_stride),
    }
    if getattr(cfg, "data_terms", ""):
        meta["training_data_terms"] = cfg.data_terms
    if cfg.grayscale:
        wr, wg, wb, shift = cv2_gray_weights()
        meta["gray_weights"] = f"{wr},{wg},{wb}>>{shift}"
    return meta


# torch >= 2.5 has two exporters (and 2.9 made the torch.export-based one the default); this graph is made
# for the TorchScript tracer, which is the only exporter of torch < 2.5 (no `dynamo` argument there).
TORCHSCRIPT_EXPORTER = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def _to_onnx_bytes(module: InferenceModule, opset: int) -> bytes:
    """The graph with the raw maps as extra outputs (`MAP_NAMES`); `export_module` drops them after checking."""
    buf = io.BytesIO()
    example = module.example_input(batch=2)  # batch 2: nothing can specialise on a batch of 1
    names = [*OUTPUT_NAMES, *MAP_NAMES]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript-exporter deprecation and tracer warnings
        try:
            torch.onnx.export(module.with_maps(), (example,), buf, **TORCHSCRIPT_EXPORTER, opset_version=opset,
                              do_constant_folding=True, input_names=[INPUT_NAME], output_names=names,
                              dynamic_axes={INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in names}})
        except Exception as e:  # e.g. an opset this torch cannot write
            first = (str(e).splitlines() or [""])[0][:200]
            raise UserError(f"ONNX export failed at opset {opset} ({type(e).__name__}: {first})") from None
    return buf.getvalue()


def _ort_basic_optimize(data: bytes) -> bytes:
    """onnxruntime's basic (portable, standard-ops-only) graph optimizations, saved offline:
    constant folding, redundant-node elimination, Conv+BN/Add/Mul fusions."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "opt.onnx")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = out
        so.log_severity_level = 3
        ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        return Path(out).read_bytes()


def _fp16_weights(model) -> None:
    """Store Conv and MatMul weights as float16 initializers + Cast to float32 (in place).

    Halves the file; compute stays float32 (runtimes fold the Cast when loading).
    """
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    inits = {t.name: t for t in g.initializer}
    weights = {n.input[1] for n in g.node if n.op_type in ("Conv", "MatMul") and len(n.input) > 1}
    casts = []
    for name in sorted(weights):
        t = inits.get(name)
        if t is None or t.data_type != TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(t).astype(np.float16)
        half = numpy_helper.from_array(arr, name + "_fp16")
        g.initializer.remove(t)
        g.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [name], to=TensorProto.FLOAT, name=name + "_cast"))
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)


def _keep_used_opsets(model) -> None:
    """Drop opset imports no node uses (onnxruntime's saver lists all of its domains, e.g. ai.onnx.ml 5,
    which older or other runtimes refuse even when unused)."""
    used = {n.domain or "" for n in model.graph.node} | {""}
    keep = [o for o in model.opset_import if (o.domain or "") in used]
    del model.opset_import[:]
    model.opset_import.extend(keep)


def _keep_outputs(model, count: int) -> None:
    """Keep the first `count` outputs and only the nodes and initializers they need (in place;
    `onnx.utils.Extractor` finds them, the model keeps its metadata)."""
    from onnx.utils import Extractor

    g = Extractor(model).extract_model([i.name for i in model.graph.input],
                                       [o.name for o in model.graph.output[:count]]).graph
    for name in ("node", "initializer", "value_info", "output"):
        model.graph.ClearField(name)
        getattr(model.graph, name).extend(getattr(g, name))


def _set_output_shapes(model, num_points: int) -> None:
    """Declare points (batch, N, 2) and conf (batch, N); the tracer leaves N symbolic for conf."""
    for out, dims in zip(model.graph.output, (("batch", num_points, 2), ("batch", num_points))):
        shape = out.type.tensor_type.shape
        del shape.dim[:]
        for d in dims:
            dim = shape.dim.add()
            if isinstance(d, str):
                dim.dim_param = d
            else:
                dim.dim_value = d


def _run_ort(data: bytes, x: np.ndarray) -> list[np.ndarray]:
    """Every output of the graph: (points, conf) and, while checking, the raw maps."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    return sess.run(None, {INPUT_NAME: x})


@dataclass
class Parity:
    maps_diff: float
    points_diff: float
    conf_diff: float
    points_checked: int


def check_parity(module: InferenceModule, x: torch.Tensor, ort_outputs: list[np.ndarray]) -> Parity:
    """onnxruntime vs PyTorch, robust to ties between cells.

    A network that has trained for a few steps (or not at all) has nearly flat score
    maps: the best cell wins by float rounding, so the two runtimes may pick different,
    equally good cells and a point jumps by a cell. Comparing the points alone would
    refuse such a model. Instead: (1) the raw maps must agree; (2) the graph's decoding
    must reproduce PyTorch's decoding *of the onnxruntime maps* (same cells, so no
    ties); (3) points whose best cells (their own and those of every landmark voting
    for them) beat the runner-up by more than twice the maps' disagreement cannot flip,
    so they must agree with PyTorch end to end.
    """
    with torch.inference_mode():
        maps = module.model(module.preprocess(x))
        tp, tc = (t.numpy() for t in module.decoder(*maps))
        op, oc, *omaps = ort_outputs
        if op.shape != tp.shape or oc.shape != tc.shape or len(omaps) != len(maps) or any(
                o.shape != tuple(t.shape) for o, t in zip(omaps, maps)):
            raise ValueError(f"onnxruntime output shapes {[o.shape for o in ort_outputs]} differ from PyTorch")
        dmap = max(float(np.abs(o - t.numpy()).max()) for o, t in zip(omaps, maps))
        rp, rc = (t.numpy() for t in module.decoder(*(torch.from_numpy(o) for o in omaps)))
        top2 = torch.topk(maps[0].flatten(2).double(), 2, dim=2).values.numpy()   # (B, N, 2)
    tied = (top2[..., 0] - top2[..., 1]) <= 2 * dmap + 1e-6                        # (B, N)
    dec = module.decoder
    voters = tied[:, dec.idx.numpy()] & (dec.mask.numpy() > 0)                    # (B, N, R)
    steady = ~(tied | voters.any(axis=2))
    dp = float(np.abs(op - rp).max())
    if steady.any():
        dp = max(dp, float(np.abs(op - tp)[steady].max()))
    dc = max(float(np.abs(oc - tc).max()), float(np.abs(oc - rc).max()))
    return Parity(dmap, dp, dc, int(steady.sum()))


def export_module(module: InferenceModule, out: str | Path, meta: dict[str, str], opset: int = DEFAULT_OPSET,
                  fp16_weights: bool = False, optimize: bool = True) -> ExportReport:
    """Export an InferenceModule, check it (onnx.checker + onnxruntime parity), then write `out` atomically."""
    try:
        import onnx
    except ModuleNotFoundError:
        raise UserError("export needs the Python packages onnx and onnxruntime "
                        "(pip install 'pipnet106[export]')") from None
    out = Path(out)
    if opset < 13:
        raise UserError(f"opset {opset} is too old; use 13 or newer (default {DEFAULT_OPSET})")
    if any(t.device.type != "cpu" for t in module.parameters()):
        module = copy.deepcopy(module).cpu()
    module.eval()
    data = _to_onnx_bytes(module, opset)
    if optimize:
        data = _ort_basic_optimize(data)
    model = onnx.load_from_string(data)
    _keep_used_opsets(model)
    _set_output_shapes(model, module.num_points)
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    model.doc_string = (f"pipnet106 {meta.get('layout', '')} landmarks: {INPUT_NAME} "
                        f"({module.input_format}, {module.input_size}x{module.input_size}) -> "
                        "points (B,N,2) normalized to the crop, conf (B,N)")
    model.producer_name, model.producer_version = "pipnet106", __version__
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        raise UserError(f"{out}: exported graph failed onnx.checker ({str(e).splitlines()[0]})") from None
    # parity: onnxruntime vs PyTorch on one random input (batch 3 also exercises the dynamic batch)
    x = module.example_input(batch=3, seed=1)
    outs = _run_ort(model.SerializeToString(), x.numpy())
    try:
        par = check_parity(module, x, outs)
    except ValueError as e:
        raise UserError(f"{out}: {e}") from None
    if not (par.maps_diff < PARITY_TOL and par.points_diff < PARITY_TOL and par.conf_diff < PARITY_TOL):
        raise UserError(f"{out}: onnxruntime disagrees with PyTorch (max point diff {par.points_diff:.2e}, "
                        f"conf diff {par.conf_diff:.2e}, network maps diff {par.maps_diff:.2e}); file not written")
    _keep_outputs(model, len(OUTPUT_NAMES))  # the maps were for the check: drop them and the heads only they need
    fp32 = model.SerializeToString()
    op, oc = _run_ort(fp32, x.numpy())
    if not (np.array_equal(op, outs[0]) and np.array_equal(oc, outs[1])):
        raise UserError(f"{out}: the graph changed its outputs when the check outputs were removed; file not written")
    dp, dc = par.points_diff, par.conf_diff
    final, dp16 = fp32, None
    if fp16_weights:
        _fp16_weights(model)
        model.metadata_props.add(key="weights", value="float16")
        onnx.checker.check_model(model, full_check=True)
        final = model.SerializeToString()
        hp, _ = _run_ort(final, x.numpy())
        dp16 = float(np.abs(hp - op).max())
    atomic_write_bytes(out, final)
    return ExportReport(out, len(final), opset, module.input_format, dp, dc, dp16, par.maps_diff, par.points_checked)


def export_onnx(weights: str | Path, out: str | Path, input_format: str = "uint8_nhwc_bgr",
                opset: int = DEFAULT_OPSET, fp16_weights: bool = False) -> Path:
    """Checkpoint -> verified ONNX file (dynamic batch, metadata); returns the path written."""
    return export_checkpoint(weights, out, input_format, opset, fp16_weights).path


def export_checkpoint(weights: str | Path, out: str | Path, input_format: str = "uint8_nhwc_bgr",
                      opset: int = DEFAULT_OPSET, fp16_weights: bool = False, optimize: bool = True) -> ExportReport:
    """Like `export_onnx`, returning the full report (size, parity diffs)."""
    if input_format not in INPUT_FORMATS:
        raise UserError(f"unknown input format {input_format!r}; known: {', '.join(INPUT_FORMATS)}")
    loaded = load_model(weights, device="cpu")
    module = InferenceModule.from_loaded(loaded, input_format)
    meta = metadata(loaded, input_format)
    meta["source"] = Path(weights).name
    return export_module(module, out, meta, opset=opset, fp16_weights=fp16_weights, optimize=optimize)


# ----------------------------------------------------------------------------- CLI

def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a checkpoint to ONNX (preprocessing and decoding included)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--weights", required=True, help="checkpoint (.pt) written by `pipnet106 train`")
    p.add_argument("--out", required=True,
                   help="output .onnx file, or a .pt file for a small inference-only checkpoint (no optimizer state)")
    p.add_argument("--input-format", choices=INPUT_FORMATS, default="uint8_nhwc_bgr",
                   help="uint8_nhwc_bgr: uint8 (B,S,S,3) BGR as OpenCV gives (default); "
                        "float_nchw_rgb: float32 (B,3,S,S) RGB in [0,1]")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    p.add_argument("--fp16-weights", action="store_true",
                   help="store conv weights as float16 (half the file; compute stays float32)")
    p.add_argument("--no-optimize", action="store_true", help="skip onnxruntime's offline basic graph optimization")
    p.add_argument("--int8", action="store_true",
                   help="statically quantize the network to int8 (preprocessing and decoding stay float); needs --calib")
    p.add_argument("--calib", default=None, help="prepared folder (`pipnet106 prepare`) whose crops calibrate --int8")
    p.add_argument("--calib-count", type=int, default=300, help="calibration crops (default 300)")
    p.add_argument("--quant", action="append", default=[], metavar="KEY=VALUE",
                   help="int8 setting, repeatable: format=qdq|qoperator, activations=u8|s8, weights=s8|u8, "
                        "per_channel, reduce_range, heads, pre_process (true/false), calibrate=minmax|entropy|percentile, "
                        "ops=Conv,Clip,Add")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.int8 or args.calib:
        from .quantize import run_export_int8

        return run_export_int8(args)
    if str(args.out).lower().endswith((".pt", ".pth")):
        from .checkpoint import save_release

        path = save_release(args.weights, args.out, fp16=args.fp16_weights)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, inference-only checkpoint"
              f"{', float16 weights' if args.fp16_weights else ''})")
        print(terms_line(checkpoint_terms(path)) + " (kept in the file)")
        return 0
    rep = export_checkpoint(args.weights, args.out, args.input_format, args.opset, args.fp16_weights,
                            optimize=not args.no_optimize)
    line = (f"wrote {rep.path} ({rep.size_bytes / 1e6:.2f} MB, opset {rep.opset}, input {rep.input_format}); "
            f"parity vs PyTorch: max abs diff maps {rep.maps_diff:.2e}, points {rep.points_diff:.2e} (of the crop side), "
            f"conf {rep.conf_diff:.2e}")
    if rep.fp16_points_diff is not None:
        line += f"; fp16 weights move points by up to {rep.fp16_points_diff:.2e}"
    print(line)
    print(terms_line(checkpoint_terms(args.weights)) + " (ONNX metadata training_data_terms)")
    return 0


def checkpoint_terms(path: str | Path) -> str:
    """The training data terms a checkpoint carries ('' when none)."""
    return str(read_checkpoint(path)["config"].get("data_terms") or "")
