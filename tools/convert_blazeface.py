"""Convert MediaPipe's BlazeFace face-detection .tflite models to ONNX (offline, once).

Provenance of src/pipnet106/assets/blazeface_{short,full}.onnx
---------------------------------------------------------------
The weights are MediaPipe's face detectors (Apache License 2.0, Copyright Google LLC),
as shipped inside the `mediapipe` wheel (0.10.21) under
``mediapipe/modules/face_detection/``:

* ``face_detection_short_range.tflite``       -> ``blazeface_short.onnx`` (128x128 input, 896 anchors)
* ``face_detection_full_range_sparse.tflite`` -> ``blazeface_full.onnx``  (192x192 input, 2304 anchors)

This script reads the TFLite flatbuffer with the `tflite` schema package, turns the
constant weights into dense float32 (undoing float16 ``DEQUANTIZE`` and sparse
``DENSIFY`` storage), and rewrites each TFLite operator as the equivalent ONNX
operator with ``onnx.helper``. Nothing is retrained or changed; the graph is the
same computation in NCHW layout. Float16-stored weights are written back as
float16 initializers followed by a ``Cast`` so the .onnx files stay small.

ONNX model interface (both models)::

    input   "image"       float32 [1, 3, S, S]   RGB, scaled to [-1, 1], letterboxed
    output  "regressors"  float32 [1, N, 16]     box (cx, cy, w, h) + 6 keypoints (x, y), in input pixels
                                                  relative to the anchor centre
    output  "scores"      float32 [1, N, 1]      logits (apply a sigmoid)

Usage (in a throwaway venv; none of these packages are needed at run time)::

    pip install tflite flatbuffers "numpy<2" onnx onnxruntime ai-edge-litert
    python tools/convert_blazeface.py --mediapipe-dir .../mediapipe/modules/face_detection \\
        --out src/pipnet106/assets --check-images ../shared/data/photos

``--check-images`` compares the ONNX outputs with the TFLite interpreter
(``ai_edge_litert``) on letterboxed real photos and fails if they differ.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

MODELS = {
    "short": ("face_detection_short_range.tflite", "blazeface_short.onnx"),
    "full": ("face_detection_full_range_sparse.tflite", "blazeface_full.onnx"),
}

# TFLite enums (schema.fbs)
_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
_ACT = {0: None, 1: "Relu", 3: "Relu6"}
_PAD_SAME, _PAD_VALID = 0, 1
_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


def _opnames():
    from tflite.BuiltinOperator import BuiltinOperator

    return {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}


def _index_vector(meta, kind: str) -> np.ndarray:
    """Read a SparseIndexVector union (segments or indices) as an int array."""
    import tflite

    typ = getattr(meta, f"Array{kind}Type")()
    table = getattr(meta, f"Array{kind}")()
    cls = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}[typ]
    vec = cls()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def densify(values: np.ndarray, shape: list[int], sparsity) -> np.ndarray:
    """Dense array from TFLite sparse storage (traversal order, block map, DENSE/CSR levels).

    The stored tensor has rank n + k: the n original dims (some cut into blocks)
    followed by k block dims. Level l of the storage walks expanded dim
    ``traversal_order[l]``; a DENSE level enumerates ``dense_size`` entries,
    a SPARSE_CSR level lists only the non-zero coordinates of its parent.
    """
    n = len(shape)
    order = [int(v) for v in sparsity.TraversalOrderAsNumpy()]
    block_map = [int(v) for v in sparsity.BlockMapAsNumpy()] if sparsity.BlockMapLength() else []
    levels = []
    for lvl in range(sparsity.DimMetadataLength()):
        meta = sparsity.DimMetadata(lvl)
        if meta.Format() == 0:
            levels.append(("dense", int(meta.DenseSize()), None, None))
        else:
            levels.append(("csr", 0, _index_vector(meta, "Segments"), _index_vector(meta, "Indices")))
    block_size = {}
    for i, d in enumerate(block_map):
        block_size[d] = levels[order.index(n + i)][1]
    dense = np.zeros(shape, dtype=values.dtype)
    coords = [0] * len(order)

    def walk(level: int, parent: int) -> None:
        kind, size, seg, idx = levels[level]
        if kind == "dense":
            items = ((i, parent * size + i) for i in range(size))
        else:
            items = ((int(idx[j]), j) for j in range(seg[parent], seg[parent + 1]))
        for coord, pos in items:
            coords[order[level]] = coord
            if level + 1 == len(order):
                full = list(coords[:n])
                for i, d in enumerate(block_map):
                    full[d] = full[d] * block_size[d] + coords[n + i]
                dense[tuple(full)] = values[pos]
            else:
                walk(level + 1, pos)

    walk(0, 0)
    return dense


class Converter:
    """Walks one TFLite subgraph and emits ONNX nodes; 4-D activations are kept NCHW."""

    def __init__(self, path: Path) -> None:
        import tflite

        self.tfl = tflite
        self.buf = path.read_bytes()
        self.model = tflite.Model.GetRootAsModel(self.buf, 0)
        self.graph = self.model.Subgraphs(0)
        self.opnames = _opnames()
        self.consts: dict[int, np.ndarray] = {}
        self.half: set[int] = set()  # constants stored as float16 in the source
        self.nodes = []
        self.inits = []
        self.names: dict[int, str] = {}
        self.counter = 0

    # -- tensors ------------------------------------------------------------
    def tensor(self, i: int):
        return self.graph.Tensors(i)

    def shape(self, i: int) -> list[int]:
        t = self.tensor(i)
        return [int(v) for v in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def raw_const(self, i: int) -> np.ndarray | None:
        t = self.tensor(i)
        b = self.model.Buffers(t.Buffer())
        if b is None or b.DataLength() == 0:
            return None
        data = b.DataAsNumpy().tobytes()
        arr = np.frombuffer(data, dtype=_TYPES[t.Type()]).copy()
        sp = t.Sparsity()
        if sp is not None:
            return densify(arr, self.shape(i), sp)
        return arr.reshape(self.shape(i))

    def load_constants(self) -> None:
        for i in range(self.graph.TensorsLength()):
            arr = self.raw_const(i)
            if arr is not None:
                self.consts[i] = arr
                if arr.dtype == np.float16:
                    self.half.add(i)

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}_{self.counter}"

    def const_name(self, arr: np.ndarray, stem: str, half: bool = False) -> str:
        """Add an initializer; float16-sourced weights stay float16 and get a Cast."""
        from onnx import TensorProto, helper, numpy_helper

        name = self.fresh(stem)
        if half and arr.dtype == np.float32:
            self.inits.append(numpy_helper.from_array(arr.astype(np.float16), name + "_f16"))
            self.nodes.append(helper.make_node("Cast", [name + "_f16"], [name], to=TensorProto.FLOAT))
        else:
            self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def act(self, name: str, code: int, out: str | None = None) -> str:
        from onnx import helper

        kind = _ACT.get(code, "unsupported")
        if kind == "unsupported":
            raise NotImplementedError(f"fused activation {code}")
        if kind is None:
            if out is not None:
                self.nodes.append(helper.make_node("Identity", [name], [out]))
                return out
            return name
        out = out or self.fresh("act")
        if kind == "Relu":
            self.nodes.append(helper.make_node("Relu", [name], [out]))
        else:
            lo = self.const_name(np.array(0, np.float32), "zero")
            hi = self.const_name(np.array(6, np.float32), "six")
            self.nodes.append(helper.make_node("Clip", [name, lo, hi], [out]))
        return out

    @staticmethod
    def same_pads(in_hw, k_hw, s_hw, d_hw):
        pads_b, pads_e = [], []
        for n, k, s, d in zip(in_hw, k_hw, s_hw, d_hw):
            ek = (k - 1) * d + 1
            out = -(-n // s)
            total = max((out - 1) * s + ek - n, 0)
            pads_b.append(total // 2)
            pads_e.append(total - total // 2)
        return pads_b + pads_e

    # -- operators ----------------------------------------------------------
    def options(self, op, cls_name: str):
        cls = getattr(self.tfl, cls_name)
        table = op.BuiltinOptions()
        o = cls()
        o.Init(table.Bytes, table.Pos)
        return o

    def convert(self):
        """The whole subgraph as an onnx.ModelProto."""
        from onnx import TensorProto, helper

        self.load_constants()
        g = self.graph
        in_idx = g.Inputs(0)
        n, h, w, c = self.shape(in_idx)
        self.names[in_idx] = "image"
        for k in range(g.OperatorsLength()):
            op = g.Operators(k)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            opname = self.opnames[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
            ins = [op.Inputs(i) for i in range(op.InputsLength())]
            outs = [op.Outputs(i) for i in range(op.OutputsLength())]
            getattr(self, "op_" + opname.lower())(op, ins, outs)
        out_names = {g.Outputs(0): "regressors", g.Outputs(1): "scores"}
        outputs = []
        for i, name in out_names.items():
            shp = self.shape(i)
            if shp[-1] == 1:
                name = "scores"
            elif shp[-1] == 16:
                name = "regressors"
            src = self.names[i]
            self.nodes.append(helper.make_node("Identity", [src], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shp))
        outputs.sort(key=lambda v: v.name != "regressors")
        graph = helper.make_graph(
            self.nodes, "blazeface",
            [helper.make_tensor_value_info("image", TensorProto.FLOAT, [n, c, h, w])],
            outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                  producer_name="pipnet106 tools/convert_blazeface.py")
        model.ir_version = 8
        return model

    def out(self, i: int) -> str:
        name = self.fresh("t")
        self.names[i] = name
        return name

    def op_dequantize(self, op, ins, outs):
        src = self.consts.get(ins[0])
        if src is None:
            raise NotImplementedError("DEQUANTIZE of a non-constant tensor")
        if src.dtype in (np.int8, np.uint8):
            q = self.tensor(ins[0]).Quantization()
            scale = q.ScaleAsNumpy().astype(np.float32)
            zp = q.ZeroPointAsNumpy().astype(np.float32)
            axis = q.QuantizedDimension()
            bshape = [1] * src.ndim
            bshape[axis] = -1
            val = (src.astype(np.float32) - zp.reshape(bshape)) * scale.reshape(bshape)
        else:
            val = src.astype(np.float32)
        self.consts[outs[0]] = val
        if ins[0] in self.half:
            self.half.add(outs[0])

    def op_densify(self, op, ins, outs):
        self.consts[outs[0]] = self.consts[ins[0]]
        if ins[0] in self.half:
            self.half.add(outs[0])

    def weight(self, i: int, arr: np.ndarray, stem: str) -> str:
        return self.const_name(arr.astype(np.float32), stem, half=i in self.half)

    def op_conv_2d(self, op, ins, outs, depthwise: bool = False):
        from onnx import helper

        o = self.options(op, "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions")
        w = self.consts[ins[1]]
        in_shape = self.shape(ins[0])
        cin = in_shape[3]
        if depthwise:
            wt = np.transpose(w, (3, 0, 1, 2))  # [1,H,W,C*M] -> [C*M,1,H,W]
            group = cin
        else:
            wt = np.transpose(w, (0, 3, 1, 2))  # OHWI -> OIHW
            group = 1
        k_hw = list(wt.shape[2:])
        s_hw = [o.StrideH(), o.StrideW()]
        d_hw = [o.DilationHFactor(), o.DilationWFactor()]
        pads = self.same_pads(in_shape[1:3], k_hw, s_hw, d_hw) if o.Padding() == _PAD_SAME else [0, 0, 0, 0]
        inputs = [self.names[ins[0]], self.weight(ins[1], wt, "w")]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.weight(ins[2], self.consts[ins[2]], "b"))
        tmp = self.fresh("conv")
        self.nodes.append(helper.make_node("Conv", inputs, [tmp], kernel_shape=k_hw, strides=s_hw,
                                           dilations=d_hw, pads=pads, group=group))
        self.act(tmp, o.FusedActivationFunction(), self.out(outs[0]))

    def op_depthwise_conv_2d(self, op, ins, outs):
        self.op_conv_2d(op, ins, outs, depthwise=True)

    def op_relu(self, op, ins, outs):
        self.act(self.names[ins[0]], 1, self.out(outs[0]))

    def op_add(self, op, ins, outs):
        from onnx import helper

        o = self.options(op, "AddOptions")
        a = [self.names[i] if i in self.names else self.weight(i, self.consts[i], "c") for i in ins]
        tmp = self.fresh("add")
        self.nodes.append(helper.make_node("Add", a, [tmp]))
        self.act(tmp, o.FusedActivationFunction(), self.out(outs[0]))

    def op_pad(self, op, ins, outs):
        from onnx import helper

        p = self.consts[ins[1]].astype(np.int64)  # [4, 2] in NHWC
        nchw = [0, 3, 1, 2]
        pads = [int(p[d, 0]) for d in nchw] + [int(p[d, 1]) for d in nchw]
        pname = self.const_name(np.array(pads, np.int64), "pads")
        self.nodes.append(helper.make_node("Pad", [self.names[ins[0]], pname], [self.out(outs[0])],
                                           mode="constant"))

    def op_max_pool_2d(self, op, ins, outs):
        from onnx import helper

        o = self.options(op, "Pool2DOptions")
        k_hw = [o.FilterHeight(), o.FilterWidth()]
        s_hw = [o.StrideH(), o.StrideW()]
        in_shape = self.shape(ins[0])
        pads = self.same_pads(in_shape[1:3], k_hw, s_hw, [1, 1]) if o.Padding() == _PAD_SAME else [0, 0, 0, 0]
        tmp = self.fresh("pool")
        self.nodes.append(helper.make_node("MaxPool", [self.names[ins[0]]], [tmp], kernel_shape=k_hw,
                                           strides=s_hw, pads=pads))
        self.act(tmp, o.FusedActivationFunction(), self.out(outs[0]))

    def op_reshape(self, op, ins, outs):
        from onnx import helper

        src = self.names[ins[0]]
        if len(self.shape(ins[0])) == 4:  # back to NHWC so the flattening order matches TFLite
            t = self.fresh("nhwc")
            self.nodes.append(helper.make_node("Transpose", [src], [t], perm=[0, 2, 3, 1]))
            src = t
        new_shape = self.shape(outs[0])
        if len(new_shape) == 4:
            raise NotImplementedError("RESHAPE to a 4-D tensor")
        sname = self.const_name(np.array(new_shape, np.int64), "shape")
        self.nodes.append(helper.make_node("Reshape", [src, sname], [self.out(outs[0])]))

    def op_concatenation(self, op, ins, outs):
        from onnx import helper

        o = self.options(op, "ConcatenationOptions")
        rank = len(self.shape(outs[0]))
        axis = o.Axis() % rank
        if rank == 4:
            axis = _NHWC_TO_NCHW_AXIS[axis]
        tmp = self.fresh("cat")
        self.nodes.append(helper.make_node("Concat", [self.names[i] for i in ins], [tmp], axis=axis))
        self.act(tmp, o.FusedActivationFunction(), self.out(outs[0]))

    def op_resize_bilinear(self, op, ins, outs):
        from onnx import helper

        o = self.options(op, "ResizeBilinearOptions")
        if o.AlignCorners():
            mode = "align_corners"
        elif o.HalfPixelCenters():
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        n, h, w, c = self.shape(outs[0])
        sizes = self.const_name(np.array([n, c, h, w], np.int64), "sizes")
        self.nodes.append(helper.make_node("Resize", [self.names[ins[0]], "", "", sizes], [self.out(outs[0])],
                                           mode="linear", coordinate_transformation_mode=mode))

    def op_depth_to_space(self, op, ins, outs):
        from onnx import helper

        o = self.options(op, "DepthToSpaceOptions")
        # TF's NHWC depth_to_space reads channel (i*bs + j)*C + c: ONNX's DCR order
        self.nodes.append(helper.make_node("DepthToSpace", [self.names[ins[0]]], [self.out(outs[0])],
                                           blocksize=o.BlockSize(), mode="DCR"))


def letterbox_input(image_bgr: np.ndarray, size: int) -> np.ndarray:
    """[1, S, S, 3] float32 RGB in [-1, 1], aspect kept, black (-1) padding."""
    import cv2

    h, w = image_bgr.shape[:2]
    s = size / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(image_bgr, (nw, nh), interpolation=cv2.INTER_AREA)
    canvas = np.full((size, size, 3), -1.0, np.float32)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    canvas[y0:y0 + nh, x0:x0 + nw] = small[:, :, ::-1].astype(np.float32) / 127.5 - 1.0
    return canvas[None]


def check(tflite_path: Path, onnx_path: Path, images: list[Path], size: int) -> float:
    """Max abs difference between TFLite interpreter and ONNX Runtime outputs."""
    import cv2
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(tflite_path))
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]["index"]
    outs = {d["shape"][-1]: d["index"] for d in interp.get_output_details()}
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for p in images:
        img = cv2.imread(str(p))
        x = letterbox_input(img, size)
        interp.set_tensor(inp, x)
        interp.invoke()
        ref_reg, ref_sc = interp.get_tensor(outs[16]), interp.get_tensor(outs[1])
        reg, sc = sess.run(["regressors", "scores"], {"image": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})
        d = max(float(np.abs(reg - ref_reg).max()), float(np.abs(sc - ref_sc).max()))
        n_faces = int((ref_sc > 0).sum())  # sigmoid > 0.5
        print(f"  {p.name}: max|diff| {d:.2e}  (anchors over 0.5: {n_faces})")
        worst = max(worst, d)
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mediapipe-dir", required=True, type=Path,
                    help="folder holding the .tflite files (mediapipe/modules/face_detection)")
    ap.add_argument("--out", required=True, type=Path, help="folder for the .onnx files")
    ap.add_argument("--check-images", type=Path, help="folder of photos to compare TFLite vs ONNX on")
    ap.add_argument("--tolerance", type=float, default=1e-3)
    args = ap.parse_args(argv)
    import onnx

    args.out.mkdir(parents=True, exist_ok=True)
    ok = True
    for key, (src, dst) in MODELS.items():
        tfl = args.mediapipe_dir / src
        model = Converter(tfl).convert()
        onnx.checker.check_model(model, full_check=True)
        out = args.out / dst
        onnx.save(model, str(out))
        size = model.graph.input[0].type.tensor_type.shape.dim[2].dim_value
        print(f"{key}: {tfl.name} -> {out} ({out.stat().st_size / 1e6:.2f} MB, input {size})")
        if args.check_images:
            imgs = sorted(p for p in args.check_images.iterdir() if p.suffix.lower() in (".jpg", ".png"))
            worst = check(tfl, out, imgs, size)
            print(f"  worst max|diff| {worst:.2e}")
            ok &= worst <= args.tolerance
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
