"""A checkpoint -> one self-contained ONNX file.

The graph is `models.inference.InferenceModule`: raw face crops in, normalized points and
confidences out, preprocessing and PIPNet decoding inside, so a runtime needs nothing but the
file. The exported file carries what a runtime needs to use it (layout, input size,
crop enlarge factor, ...) as ONNX metadata, read by `infer.backends.OnnxBackend`
without torch. Export writes nothing unless onnx.checker passes and
onnxruntime reproduces the PyTorch outputs (`check_parity`: raw maps, decoding,
and every point whose best cell is not a near-tie).
"""
from __future__ import annotations

import copy
import inspect
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..models.checkpoint import LoadedModel, load_model
from ..constants import INPUT_FORMATS, INPUT_NAME, ONNX_FORMAT, ONNX_VERSION, OUTPUT_NAMES, VISIBILITY_OUTPUT
from ..models.inference import InferenceModule, cv2_gray_weights
from ..config import combine_terms
from ..errors import UserError
from ..fileio import atomic_write_bytes

DEFAULT_OPSET = 17
"""Opset 17 (ONNX 1.12, 2022): read by every maintained runtime (onnxruntime >= 1.12, OpenCV DNN,
TensorRT 8.5+, ncnn/MNN converters) and enough for every op the graph uses."""
EXPORT_FORMATS = ("onnx", "ncnn", "tflite", "coreml")
"""`pipnet106 export --format`: ONNX here, the phone runtimes in `deploy.mobile`."""
MAP_NAMES = ("score", "offset_x", "offset_y", "nb_x", "nb_y")
"""The network's raw maps: extra outputs of the graph used for the parity check only (not in the file)."""
PARITY_TOL = 1e-4
"""Max allowed |onnxruntime - PyTorch| for raw maps, points (fraction of the crop side) and confidences."""


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
    if getattr(cfg, "head", "pip") != "pip":   # absent = pip, so PIPNet exports stay as they were
        meta["head"] = cfg.head
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
    names = [*module.output_names, *getattr(module.model, "map_names", MAP_NAMES)]   # another head's own maps
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
    """Declare points (batch, N, 2), conf and visibility (batch, N); the tracer leaves N symbolic for conf."""
    for out in model.graph.output:
        if out.name not in (*OUTPUT_NAMES, VISIBILITY_OUTPUT):
            continue
        dims = ("batch", num_points, 2) if out.name == OUTPUT_NAMES[0] else ("batch", num_points)
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
    vis_diff: float = 0.0


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
    if getattr(module.model, "head", "pip") != "pip":   # regression, simcc, heatmap (models.head_codecs)
        from ..models.head_codecs import head_parity

        return Parity(*head_parity(module, x, ort_outputs))
    n_out = len(module.output_names)
    with torch.inference_mode():
        maps = module.model(module.preprocess(x))
        vis_map, maps = (maps[5], maps[:5]) if len(maps) > 5 else (None, maps)
        tp, tc = (t.numpy() for t in module.decoder(*maps))
        (op, oc, *ov), omaps = ort_outputs[:n_out], ort_outputs[n_out:]
        if op.shape != tp.shape or oc.shape != tc.shape or len(omaps) != len(maps) or any(
                o.shape != tuple(t.shape) for o, t in zip(omaps, maps)):
            raise ValueError(f"onnxruntime output shapes {[o.shape for o in ort_outputs]} differ from PyTorch")
        dmap = max(float(np.abs(o - t.numpy()).max()) for o, t in zip(omaps, maps))
        rp, rc = (t.numpy() for t in module.decoder(*(torch.from_numpy(o) for o in omaps)))
        steady = module.decoder.steady(maps[0], 2 * dmap + 1e-6).numpy()          # (B, N)
    dp = float(np.abs(op - rp).max())
    if steady.any():
        dp = max(dp, float(np.abs(op - tp)[steady].max()))
    dc = max(float(np.abs(oc - tc).max()), float(np.abs(oc - rc).max()))
    dv = 0.0
    if vis_map is not None and steady.any():   # visibility is read at the best cell: compare where cells are decided
        cell = maps[0].flatten(2).argmax(2, keepdim=True)
        tv = torch.sigmoid(vis_map.flatten(2).gather(2, cell).squeeze(2)).numpy()
        dv = float(np.abs(ov[0] - tv)[steady].max())
    return Parity(dmap, dp, dc, int(steady.sum()), dv)


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
    if not (par.maps_diff < PARITY_TOL and par.points_diff < PARITY_TOL and par.conf_diff < PARITY_TOL
            and par.vis_diff < PARITY_TOL):
        raise UserError(f"{out}: onnxruntime disagrees with PyTorch (max point diff {par.points_diff:.2e}, "
                        f"conf diff {par.conf_diff:.2e}, network maps diff {par.maps_diff:.2e}); file not written")
    n_out = len(module.output_names)
    _keep_outputs(model, n_out)  # the maps were for the check: drop them and the heads only they need
    fp32 = model.SerializeToString()
    kept = _run_ort(fp32, x.numpy())
    op = kept[0]
    if len(kept) != n_out or not all(np.array_equal(a, b) for a, b in zip(kept, outs[:n_out])):
        raise UserError(f"{out}: the graph changed its outputs when the check outputs were removed; file not written")
    dp, dc = par.points_diff, par.conf_diff
    final, dp16 = fp32, None
    if fp16_weights:
        _fp16_weights(model)
        model.metadata_props.add(key="weights", value="float16")
        onnx.checker.check_model(model, full_check=True)
        final = model.SerializeToString()
        hp = _run_ort(final, x.numpy())[0]
        dp16 = float(np.abs(hp - op).max())
    atomic_write_bytes(out, final)
    return ExportReport(out, len(final), opset, module.input_format, dp, dc, dp16, par.maps_diff, par.points_checked)


def export_onnx(weights: str | Path, out: str | Path, input_format: str = "uint8_nhwc_bgr",
                opset: int = DEFAULT_OPSET, fp16_weights: bool = False) -> Path:
    """Checkpoint -> verified ONNX file (dynamic batch, metadata); returns the path written."""
    return export_checkpoint(weights, out, input_format, opset, fp16_weights).path


def export_checkpoint(weights: str | Path, out: str | Path, input_format: str = "uint8_nhwc_bgr",
                      opset: int = DEFAULT_OPSET, fp16_weights: bool = False, optimize: bool = True,
                      parts: list[str | Path] | None = None) -> ExportReport:
    """Like `export_onnx`, returning the full report (size, parity diffs).

    `parts`: checkpoints of the local stage's part models (eye, mouth), exported next to `out` as
    `<stem>.<part>.onnx` and named, with their SHA-256, in its metadata `parts`, so
    `Landmarker.from_onnx(out)` runs them after the face model."""
    if input_format not in INPUT_FORMATS:
        raise UserError(f"unknown input format {input_format!r}; known: {', '.join(INPUT_FORMATS)}")
    loaded = load_model(weights, device="cpu")
    if loaded.cfg.part:
        raise UserError(f"{weights}: a {loaded.cfg.part} part model; export it with its face model "
                        f"(--weights FACE.pt --parts {weights})")
    module = InferenceModule.from_loaded(loaded, input_format)
    meta = metadata(loaded, input_format)
    meta["source"] = Path(weights).name
    if parts:
        meta["parts"], terms = _export_parts(parts, Path(out), loaded, input_format, opset, fp16_weights, optimize)
        terms = combine_terms(meta.get("training_data_terms", ""), *terms)   # the pipeline carries every model's
        if terms:
            meta["training_data_terms"] = terms
    return export_module(module, out, meta, opset=opset, fp16_weights=fp16_weights, optimize=optimize)


def _export_parts(parts, out: Path, face, input_format: str, opset: int, fp16_weights: bool, optimize: bool
                  ) -> tuple[str, list[str]]:
    """Each part checkpoint -> `<stem>.<part>.onnx` beside `out`; (the JSON of the face file's `parts`
    key, the parts' training data terms)."""
    import hashlib
    import json

    linked, terms = {}, []
    for w in parts:
        part = load_model(w, device="cpu")
        name = part.cfg.part
        if not name:
            raise UserError(f"{w}: not a part model (its config has no `part`)")
        if name in linked:
            raise UserError(f"{w}: a second {name} model; give one per part")
        if face.layout.name != "lapa106":
            raise UserError(f"part models refine lapa106 faces; the face model predicts {face.layout.name}")
        dst = out.with_name(f"{out.stem}.{name}.onnx")
        meta = {**metadata(part, input_format), "source": Path(w).name, "part": name}
        export_module(InferenceModule.from_loaded(part, input_format), dst, meta, opset=opset,
                      fp16_weights=fp16_weights, optimize=optimize)
        linked[name] = {"file": dst.name, "sha256": hashlib.sha256(dst.read_bytes()).hexdigest()}
        terms.append(part.cfg.data_terms)
    return json.dumps(linked, sort_keys=True), terms

