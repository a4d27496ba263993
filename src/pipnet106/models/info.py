"""``pipnet106 info``: what a config builds (backbone, grid, parameters, FLOPs), or what a model file is.

Answers "how big and how slow is this model" before training anything. ``--all``
prints the same numbers for the standard configurations so choices can be compared.
``--weights FILE`` describes a checkpoint or ONNX export: its network, crop rule and the terms of
the data it was trained on (which travel with every file derived from it).
FLOPs are 2 x multiply-accumulates of conv/linear layers (see `models.count_flops`).
"""
from __future__ import annotations


from pathlib import Path

from ..config import Config, terms_line
from ..errors import UserError

STANDARD = [  # (label, backbone, width)
    ("mobilenet_v2 w320", "mobilenet_v2", 320),
    ("mobilenet_v2 w640", "mobilenet_v2", 640),
    ("mobilenet_v2 w1280", "mobilenet_v2", 1280),
    ("resnet18", "resnet18", 0),
]
STANDARD_SIZES = (128, 256)


def describe(cfg: Config) -> dict:
    """Numbers for one config (no pretrained weights are loaded: only shapes matter)."""
    from ..layout import get_layout
    from . import build_model, count_flops, count_params

    model = build_model(_no_pretrained(cfg), warn_scratch=False)
    return {
        "backbone": cfg.backbone,
        "width": model.backbone.out_channels,
        "net_stride": cfg.net_stride,
        "grid": cfg.input_size // cfg.net_stride,
        "input_size": cfg.input_size,
        "num_points": get_layout(cfg.layout).num_points,
        "num_nb": cfg.num_nb,
        "params": count_params(model),
        "flops": count_flops(model, cfg.input_size),
    }


def _no_pretrained(cfg: Config) -> Config:
    d = cfg.to_dict()
    d["pretrained"] = ""
    return Config.from_dict(d)


def _fmt_m(v: int) -> str:
    return f"{v / 1e6:.2f}M"


def _fmt_g(v: int) -> str:
    return f"{v / 1e9:.3f}G"


def table(rows: list[dict]) -> str:
    head = ["backbone", "width", "input", "stride", "grid", "params", "FLOPs"]
    body = [[r["backbone"], str(r["width"]), str(r["input_size"]), str(r["net_stride"]), f"{r['grid']}x{r['grid']}",
             _fmt_m(r["params"]), _fmt_g(r["flops"])] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def describe_file(weights: str) -> list[str]:
    """Lines describing a model file: its network and input (from the checkpoint's config or the ONNX
    metadata), crop enlargement, and training data terms."""
    from .checkpoint import resolve_init

    path = resolve_init(weights)
    if not path.is_file():
        raise UserError(f"{path}: model file not found")
    if path.suffix.lower() == ".onnx":
        meta = onnx_metadata(path)
        keys = ("layout", "num_points", "input_size", "input_format", "grayscale", "crop_enlarge", "backbone",
                "width", "net_stride", "grid", "num_nb", "weights", "source")
        return ([f"file         {path} (ONNX export)"] + [f"{k:<12} {meta[k]}" for k in keys if k in meta]
                + [terms_line(meta.get("training_data_terms", ""))])
    from .checkpoint import read_checkpoint

    ck = read_checkpoint(path)
    cfg = Config.from_dict({**ck["config"], "pretrained": "", "init": ""})
    metrics = ck.get("metrics") or {}
    nme = f", val NME {metrics['val_nme'] * 100:.3f}%" if "val_nme" in metrics else ""
    return ([f"file         {path} (checkpoint, epoch {ck.get('epoch', '?')}{nme})"] + config_lines(cfg)
            + [f"input        {'grayscale' if cfg.grayscale else 'colour'}, face crops enlarged "
               f"{cfg.crop_enlarge:g}x", terms_line(cfg.data_terms)])


def onnx_metadata(path: Path) -> dict[str, str]:
    """An ONNX file's metadata through onnxruntime (the runtime-only install has no `onnx`)."""
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise UserError(f"{path}: not a readable ONNX file ({type(e).__name__})") from None
    return dict(sess.get_modelmeta().custom_metadata_map)


def config_lines(cfg: Config) -> list[str]:
    """The numbers of `describe(cfg)` as aligned lines (backbone first, FLOPs last)."""
    r = describe(cfg)
    return [f"backbone     {r['backbone']}" + (" (pretrained: " + cfg.pretrained + ")" if cfg.pretrained else ""),
            f"width        {r['width']} (backbone output channels)",
            f"net stride   {r['net_stride']}",
            f"grid         {r['grid']}x{r['grid']}",
            f"input size   {r['input_size']}x{r['input_size']}",
            f"landmarks    {r['num_points']} ({cfg.layout}), {r['num_nb']} neighbours each",
            f"parameters   {r['params']:,} ({_fmt_m(r['params'])})",
            f"FLOPs        {r['flops']:,} ({_fmt_g(r['flops'])}, = 2 x MACs)"]


