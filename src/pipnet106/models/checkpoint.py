"""Checkpoint file format: everything inference needs travels inside it.

A checkpoint holds the model weights plus the config, layout name, mean face
and neighbour table, so `load_model(path)` alone rebuilds model + decoder.
Training state (optimizer, scheduler, RNG, epoch) rides along in `last.pt`.

Only tensors and plain Python values are stored, and every file is read with
`torch.load(weights_only=True)`: a checkpoint from anywhere is data, never
code (a pickle that would build any other object is refused unread).
"""
from __future__ import annotations

import pickle
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Config, validate
from ..constants import STARTER_PT
from ..errors import UserError
from ..layout import Layout, get_layout

FORMAT = "pipnet106-checkpoint"
VERSION = 1


@dataclass
class LoadedModel:
    model: torch.nn.Module
    decoder: torch.nn.Module
    """PIPNet's `Decoder`, or the decoder of another head (`models.head_codecs`)."""
    cfg: Config
    layout: Layout
    meanface: np.ndarray
    nb: np.ndarray
    raw: dict[str, Any]


def make_checkpoint(model: torch.nn.Module, cfg: Config, meanface: np.ndarray, nb: np.ndarray,
                    **extra: Any) -> dict[str, Any]:
    """`cfg.crop_enlarge` 0 ("from the data") is stored as the default face crop: a checkpoint always
    says how inference must crop; `train` stores the rule it resolved, plus a `crop` record of where
    it came from (`extra`)."""
    from dataclasses import replace

    from ..crop import DEFAULT_ENLARGE

    if not cfg.crop_enlarge:
        cfg = replace(cfg, crop_enlarge=DEFAULT_ENLARGE)
    state = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
    return {"format": FORMAT, "version": VERSION, "model": state, "config": plain(cfg.to_dict()),
            "layout": cfg.layout, "meanface": np.asarray(meanface).tolist(), "nb": np.asarray(nb).tolist(),
            **plain(extra)}


def plain(obj: Any) -> Any:
    """Tensors and plain Python values only (numpy scalars/arrays become numbers/lists), so that
    the checkpoint loads with `torch.load(weights_only=True)`."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, Counter):  # a MultiStepLR's milestones; torch < 2.4 refuses Counter (see load_scheduler)
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, dict):
        return type(obj)((k, plain(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def load_scheduler(scheduler: Any, state: dict[str, Any]) -> None:
    """`scheduler.load_state_dict` for a state saved through `plain` (MultiStepLR milestones back to a Counter)."""
    scheduler.load_state_dict(state)
    if isinstance(getattr(scheduler, "milestones", None), dict):
        scheduler.milestones = Counter(scheduler.milestones)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """torch.load(weights_only=True) with one-line errors for missing, corrupt, foreign or unsafe files.

    A pickle that asks for anything but tensors and plain values (the way a booby-trapped
    .pt runs code) is refused before any of it is built.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: checkpoint not found")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only load failed" not in str(e).lower():
            raise UserError(f"{p}: not a readable PyTorch checkpoint (UnpicklingError)") from None
        raise UserError(f"{p}: refused: the file holds Python objects other than tensors and plain values "
                        "(loading them could run code); not a pipnet106 checkpoint") from None
    except Exception as e:  # pickle/zip errors vary by torch version
        raise UserError(f"{p}: not a readable PyTorch checkpoint ({type(e).__name__})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise UserError(f"{p}: not a pipnet106 checkpoint (wrong weights file?)")
    return ck


def resolve_init(init: str | Path) -> Path:
    """A model named by the user: 'starter' = the shipped checkpoint, anything else a path."""
    if str(init) == "starter":
        if not STARTER_PT.is_file():
            raise UserError(f"{STARTER_PT}: the starter model is not installed with this package")
        return STARTER_PT
    return Path(init)


def load_model(path: str | Path, layout: str | None = None, device: str = "cpu") -> LoadedModel:
    """Rebuild model + decoder from a checkpoint; `layout` (if given) must match."""
    from . import build_model

    ck = read_checkpoint(path)
    cfg = Config.from_dict({**ck["config"], "pretrained": "", "init": ""})
    validate(cfg)
    lay = get_layout(cfg.layout)
    if layout is not None and get_layout(layout).name != lay.name:
        raise UserError(f"{path}: checkpoint is for layout {lay.name}, expected {get_layout(layout).name}")
    meanface = np.asarray(ck["meanface"], dtype=np.float64)
    nb = np.asarray(ck["nb"], dtype=np.int64)
    if meanface.shape != (lay.num_points, 2) or nb.shape != (lay.num_points, cfg.num_nb):
        raise UserError(f"{path}: mean face / neighbour table do not match layout {lay.name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "from scratch" warning is for training only
        model = build_model(cfg, layout=lay)
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise UserError(f"{path}: weights do not fit the configured network ({str(e).splitlines()[0]})") from None
    model.eval().to(device)
    from .head_codecs import build_decoder

    decoder = build_decoder(cfg, nb).to(device)   # PIPNet's Decoder, or another head's (models.head_codecs)
    return LoadedModel(model, decoder, cfg, lay, meanface, nb, ck)


def check_init_layout(ck: dict[str, Any], layout: Layout, path: str | Path) -> None:
    """A fine-tuning checkpoint must predict the run's layout (checked before its mean face is used)."""
    try:
        src_layout = get_layout(ck["config"]["layout"]).name  # the file's layout, not the run's
    except ValueError as e:
        raise UserError(f"{path}: {e}") from None
    if src_layout != layout.name:
        raise UserError(f"{path}: checkpoint is for layout {src_layout}, this run uses {layout.name}")


def init_from(model: torch.nn.Module, ck: dict[str, Any], path: str | Path, layout: Layout, nb: np.ndarray,
              same_layout: bool = True) -> str:
    """Copy weights from a checkpoint for fine-tuning; returns a one-line report.

    Layout must match (unless `same_layout=False`: a part model taking a face model's backbone).
    Tensors whose shapes differ (e.g. another num_nb) are skipped and reported; a different
    neighbour table is reported too, since the neighbour heads then start from weights that
    predict other points.
    """
    if same_layout:
        check_init_layout(ck, layout, path)
    own = _unwrap(model).state_dict()
    loaded, skipped = {}, []
    for k, v in ck["model"].items():
        if k in own and own[k].shape == v.shape:
            loaded[k] = v
        else:
            skipped.append(k)
    _unwrap(model).load_state_dict(loaded, strict=False)
    msg = f"init: {len(loaded)}/{len(own)} tensors from {path}"
    if skipped:
        msg += f"; {len(skipped)} skipped (shape/architecture differs)"
    if any(k.startswith("vis_layer.") for k in skipped) and not any(k.startswith("vis_layer.") for k in own):
        msg += "; NOTE its visibility head is dropped (set visibility: true to keep and train it)"
    src_nb = np.asarray(ck["nb"])
    if src_nb.shape != np.asarray(nb).shape or not np.array_equal(src_nb, nb):
        msg += "; NOTE neighbour table differs from the checkpoint's (neighbour heads re-learn)"
    return msg


def save_release(src: str | Path, dst: str | Path, fp16: bool = False) -> Path:
    """An inference-only copy of a checkpoint: weights (optionally float16), config, mean face, neighbours.

    Drops optimizer/scheduler/RNG state (about 2/3 of a training checkpoint).
    `load_model` reads it like any checkpoint; float16 weights are cast back on load.
    """
    from ..fileio import atomic_torch_save

    ck = read_checkpoint(src)
    state = {k: (v.half() if fp16 and v.is_floating_point() else v) for k, v in ck["model"].items()}
    keep = {k: ck[k] for k in ("format", "version", "config", "layout", "meanface", "nb", "crop", "epoch", "metrics")
            if k in ck}
    return atomic_torch_save(dst, {**keep, "model": state, "weights_dtype": "float16" if fp16 else "float32"})


def checkpoint_terms(path: str | Path) -> str:
    """The training data terms a checkpoint carries ('' when none)."""
    return str(read_checkpoint(path)["config"].get("data_terms") or "")
