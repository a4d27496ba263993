"""int8 export: static quantization of the network inside a pipnet106 ONNX file.

`pipnet106 export --int8 --calib DATA` first writes the usual float export
(`export.export_checkpoint`: preprocessing + network + decoding in one graph),
then lets onnxruntime's own quantizer (`onnxruntime.quantization.quantize_static`)
quantize only the *network's* nodes, chosen by name (`/model/...` in the traced
graph). The uint8 -> float preprocessing, the argmax/gather decoding and the
heads stay float: the score head (a 1x1 conv) and the offset heads (one MatMul
at each landmark's best cell, `decode.Decoder.at_cells`) give the score maps and
sub-cell offsets, whose 8-bit rounding would move points (a 1/256 step of a +-3
cell range is 0.1 px on a 128 crop per neighbour) and make argmax ties, for a
few percent of the FLOPs.

Calibration reads the crops of a prepared folder (`pipnet106 prepare`), the same
crops training saw, and feeds them through the whole graph, so the activation
ranges are those of real inputs. The file keeps the float file's metadata plus
`weights=int8` and the quantization settings, so `backends.OnnxBackend`, `eval`
and `bench` read it like any other export.

Which settings pay depends on the CPU; `benchmarks/quantize_speed.py` measures
them (docs/benchmarks.md, "int8 export").
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import UserError
from ..fileio import atomic_write_bytes

HEAD_LAYERS = ("cls_layer", "x_layer", "y_layer", "nb_x_layer", "nb_y_layer", "vis_layer")
"""PIPNet's heads under `NETWORK_SCOPE`. Current exports have only the score head there (the offset heads
run at the best cells in `decode.Decoder.at_cells`); float files from earlier versions have all five."""
NETWORK_SCOPE = "/model/"
"""Name prefix torch.onnx gives the nodes of `InferenceModule.model` (the network alone)."""
CALIB_METHODS = ("minmax", "entropy", "percentile")
FORMATS = ("qdq", "qoperator")


@dataclass
class QuantSettings:
    """What `quantize_static` is asked to do (defaults: what measured best on AVX-512 VNNI, docs/benchmarks.md "int8 export")."""

    format: str = "qdq"                 # "qdq" (QuantizeLinear/DequantizeLinear pairs) or "qoperator" (QLinearConv...)
    activations: str = "u8"             # "u8" or "s8"
    weights: str = "s8"                 # "s8" or "u8"
    per_channel: bool = True
    reduce_range: bool = False          # 7-bit weights: only for CPUs without VNNI (saturation in VPMADDUBSW)
    ops: tuple[str, ...] = ("Conv", "Clip", "Add")
    heads: bool = False                 # also quantize the score head (a 1x1 conv on every cell)
    calibrate: str = "minmax"           # "minmax", "entropy" or "percentile"
    pre_process: bool = True            # onnxruntime.quantization.quant_pre_process first
    extra: dict = field(default_factory=dict)  # extra_options for quantize_static

    def check(self) -> "QuantSettings":
        if self.format not in FORMATS:
            raise UserError(f"unknown quantization format {self.format!r}; known: {', '.join(FORMATS)}")
        if self.activations not in ("u8", "s8") or self.weights not in ("u8", "s8"):
            raise UserError("activations and weights must be 'u8' or 's8'")
        if self.calibrate not in CALIB_METHODS:
            raise UserError(f"unknown calibration method {self.calibrate!r}; known: {', '.join(CALIB_METHODS)}")
        return self

    def label(self) -> str:
        ops = "+".join(self.ops) + ("+heads" if self.heads else "")
        return (f"{self.format} {self.activations.upper()}{self.weights.upper()} "
                f"{'per-channel' if self.per_channel else 'per-tensor'}{' reduce_range' if self.reduce_range else ''} "
                f"{ops} {self.calibrate}{' +preproc' if self.pre_process else ''}")


def calibration_crops(data: str | Path, size: int, num_points: int, count: int = 300,
                      list_name: str = "train.txt") -> np.ndarray:
    """Up to `count` uint8 BGR crops (K, size, size, 3) from a prepared folder's list, evenly spread.

    Uses the list's images as prepared (the training crop rule), resized to `size` when the
    folder was prepared at another size, exactly as `data.LandmarkDataset.load` does.
    """
    import cv2

    from ..fileio import read_image
    from ..data.formats import read_list

    root = Path(data)
    path = root / list_name
    if not path.is_file():
        alt = root / "test.txt"
        if list_name == "train.txt" and alt.is_file():
            path = alt
        else:
            raise UserError(f"{path}: no calibration list (give a folder written by `pipnet106 prepare`)")
    entries = read_list(path, num_points)
    if not entries:
        raise UserError(f"{path}: calibration list is empty")
    pick = np.linspace(0, len(entries) - 1, num=min(count, len(entries))).round().astype(int)
    crops = []
    for i in sorted(set(pick.tolist())):
        image = read_image(root / entries[i][0], exif=False)
        if image.shape[:2] != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        crops.append(image)
    return np.stack(crops)


class _Reader:
    """onnxruntime CalibrationDataReader over ready crops, `batch` at a time."""

    def __init__(self, input_name: str, crops: np.ndarray, batch: int = 8, float_nchw: bool = False) -> None:
        self.input_name, self.crops, self.batch, self.float_nchw = input_name, crops, batch, float_nchw
        self._it: Iterator | None = None

    def _batches(self):
        for i in range(0, len(self.crops), self.batch):
            a = self.crops[i:i + self.batch]
            if self.float_nchw:
                a = np.ascontiguousarray(a[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)
            yield {self.input_name: a}

    def get_next(self):
        if self._it is None:
            self._it = self._batches()
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = None


def network_nodes(model, ops: tuple[str, ...], heads: bool) -> list[str]:
    """Names of the network's nodes of the given op types (preprocessing and decoding excluded)."""
    out = []
    for n in model.graph.node:
        if not n.name.startswith(NETWORK_SCOPE) or n.op_type not in ops:
            continue
        if not heads and any(f"{NETWORK_SCOPE}{h}/" in n.name for h in HEAD_LAYERS):
            continue
        out.append(n.name)
    return out


def quantize_onnx(fp32: str | Path, out: str | Path, crops: np.ndarray, settings: QuantSettings | None = None
                  ) -> dict:
    """A float pipnet106 ONNX file + calibration crops -> int8 file at `out` (written atomically).

    Returns a small report: nodes quantized, file size, and how far the int8 points are from the
    float points on the calibration crops (fraction of the crop side).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    s = (settings or QuantSettings()).check()
    fp32, out = Path(fp32), Path(out)
    src = onnx.load(str(fp32))
    meta = {p.key: p.value for p in src.metadata_props}
    if meta.get("weights") == "float16":
        raise UserError(f"{fp32}: quantize a float32 export, not one with --fp16-weights")
    float_nchw = meta.get("input_format") == "float_nchw_rgb"
    qtype = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[s.calibrate]
    with tempfile.TemporaryDirectory() as tmp:
        model_in = str(fp32)
        if s.pre_process:
            model_in = os.path.join(tmp, "pre.onnx")
            quant_pre_process(str(fp32), model_in, skip_symbolic_shape=True)
        model = onnx.load(model_in)
        nodes = network_nodes(model, s.ops, s.heads)
        if not nodes:
            raise UserError(f"{fp32}: no network nodes named {NETWORK_SCOPE}... to quantize (not a pipnet106 export?)")
        qpath = os.path.join(tmp, "int8.onnx")
        reader = _Reader(model.graph.input[0].name, crops, float_nchw=float_nchw)
        extra = {"ActivationSymmetric": False, "WeightSymmetric": True, **s.extra}
        if s.calibrate == "percentile":
            extra.setdefault("CalibPercentile", 99.999)
        quantize_static(model_in, qpath, reader, quant_format=QuantFormat.QDQ if s.format == "qdq"
                        else QuantFormat.QOperator, op_types_to_quantize=list(s.ops), per_channel=s.per_channel,
                        reduce_range=s.reduce_range, activation_type=qtype[s.activations],
                        weight_type=qtype[s.weights], nodes_to_quantize=nodes, calibrate_method=method,
                        extra_options=extra)
        q = onnx.load(qpath)
    del q.metadata_props[:]
    meta.update({"weights": "int8", "quantization": json.dumps({k: v for k, v in asdict(s).items() if k != "extra"})})
    for k, v in meta.items():
        q.metadata_props.add(key=k, value=v)
    q.doc_string = src.doc_string + " (int8 network, float preprocessing and decoding)"
    q.producer_name, q.producer_version = src.producer_name, src.producer_version
    data = q.SerializeToString()
    diff = _points_diff(fp32.read_bytes(), data, crops[: min(len(crops), 64)], float_nchw)
    atomic_write_bytes(out, data)
    return {"path": str(out), "size_bytes": len(data), "nodes_quantized": len(nodes), "settings": s.label(),
            "training_data_terms": meta.get("training_data_terms", ""), **diff}


def _points_diff(fp32: bytes, int8: bytes, crops: np.ndarray, float_nchw: bool) -> dict:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    a = _Reader("x", crops, batch=len(crops), float_nchw=float_nchw).get_next()["x"]
    res = []
    for data in (fp32, int8):
        sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        res.append(sess.run(["points"], {sess.get_inputs()[0].name: a})[0])
    d = np.linalg.norm(res[0] - res[1], axis=-1)
    return {"mean_point_shift": float(d.mean()), "max_point_shift": float(d.max())}


def export_int8(weights: str | Path, out: str | Path, calib: str | Path, count: int = 300,
                settings: QuantSettings | None = None, input_format: str = "uint8_nhwc_bgr") -> dict:
    """Checkpoint -> float export (checked against PyTorch) -> int8 export at `out`."""
    from .export import export_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        rep = export_checkpoint(weights, fp32, input_format)
        meta = _meta(fp32)
        crops = calibration_crops(calib, int(meta["input_size"]), int(meta["num_points"]), count)
        return {"fp32_parity_points": rep.points_diff, "calibration_crops": len(crops),
                **quantize_onnx(fp32, out, crops, settings)}


def _meta(path: Path) -> dict:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def parse_settings(items: list[str]) -> QuantSettings:
    """`--quant key=value` options -> QuantSettings (one-line UserError on a bad key or value)."""
    s = QuantSettings()
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in QuantSettings.__dataclass_fields__ or key == "extra":
            raise UserError(f"--quant {item!r}: expected KEY=VALUE with KEY one of "
                            f"{', '.join(k for k in QuantSettings.__dataclass_fields__ if k != 'extra')}")
        cur = getattr(s, key)
        if isinstance(cur, bool):
            if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise UserError(f"--quant {item!r}: {key} takes true or false")
            val = value.lower() in ("1", "true", "yes")
        elif isinstance(cur, tuple):
            val = tuple(v.strip() for v in value.split(",") if v.strip())
        else:
            val = value.strip().lower()
        setattr(s, key, val)
    return s.check()


