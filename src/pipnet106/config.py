"""One flat config dataclass, loaded from YAML and overridable from the CLI.

Defaults follow the PIPNet paper (input 256, stride 32, 10 neighbours, Adam
1e-4 decayed x0.1 at epochs 30 and 50, 60 epochs, batch 16). Every field is
checked in `validate`, so a bad value stops at once with one line.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from .constants import BACKBONE_NAMES, HEAD_NAMES, MBV2_WIDTHS, NET_STRIDES, OCCLUDER_KINDS
from .errors import UserError


@dataclass
class Config:
    # what is predicted
    layout: str = "lapa106"
    input_size: int = 256
    grayscale: bool = False
    crop_enlarge: float = 0.0
    """Face box enlargement of the inference crop. 0 = take it from the prepared data (training
    reads it from manifest.json, or measures it for letterboxed photos); a checkpoint always
    records the value its model was trained with."""
    data_terms: str = ""
    """Terms of the photos the weights were trained on; exported as ONNX metadata `training_data_terms`.
    A run with `init` adds the terms of the model it starts from (`combine_terms`): weights derived
    from research-only data stay research-only. Only a model trained from scratch starts clean."""
    # network
    backbone: str = "mobilenet_v2"
    width: int = 0
    """mobilenet_v2 last 1x1 conv width: 1280 (stock), 640, or 320 (removed). 0 = stock."""
    net_stride: int = 32
    num_nb: int = 10
    pretrained: str = ""
    """Local path to ImageNet weights for the backbone (state dict). Empty = from scratch."""
    init: str = ""
    """Checkpoint to fine-tune from ('starter' or a path)."""
    part: str = ""
    """'' = a whole-face model; 'eye' or 'mouth' = a local-stage model that refines that part's points on
    crops cut from the face data at a finer pixel density (`data.parts`; set `layout` to lapa106_eye /
    lapa106_mouth and `crop_enlarge` to the part crop's enlargement, or 0 for its default)."""
    part_box_lag: float = 0.0
    """Part models: the crop box lags the shape augmentation by a random fraction in [0, part_box_lag]
    (0 = the box from the warped labels; 1 = up to the box of the labels before the warp, where a face
    model that does not follow the change puts it at inference). A box that always fits the eye teaches
    the model the eye's size in the crop instead of reading it from the photo."""
    head: str = "pip"
    """What the network predicts on the backbone (`constants.HEAD_NAMES`, docs/heads.md): pip (PIPNet),
    regression (PFLD-style coordinates), simcc (RTMPose-style 1-D classification per axis) or heatmap
    (SimpleBaseline-style, stride 4). The others read the backbone's map (net_stride 16 or 32)."""
    visibility: bool = False
    """A per-point visibility output (`Face.visibility`, ONNX output `visibility`): a sixth 1x1 head read
    at each point's best cell, trained on the occluders' exact masks (`occluders`)."""
    # data
    data: str = ""
    train_list: str = "train.txt"
    test_list: str = "test.txt"
    workers: int = 2
    # optimisation
    epochs: int = 60
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 0.0
    decay_epochs: list[int] = field(default_factory=lambda: [30, 50])
    decay_gamma: float = 0.1
    warmup_steps: int = 0
    """Linear learning-rate warm-up: optimizer step k (1-based) uses lr * min(1, k / warmup_steps); 0 = none.
    Adam's first step moves every weight by about `lr` whatever its gradient; from a trained model
    (`init`) one such step at 5e-4 moved 14% of the starter's score-map peaks to other cells
    (val NME 0.7% -> 40%, docs/training.md "Fine-tuning from the starter"). Fine-tuning configs set it."""
    freeze_bn: bool = False
    """Keep the BatchNorm running statistics as loaded (those layers stay in eval mode while training;
    their scale and shift still learn): batches of a few dozen augmented faces would otherwise pull
    statistics the starter estimated on many thousands of faces."""
    train_only: str = ""
    """"" trains every weight; "visibility" trains only the visibility head of an `init` model, every
    other weight and BatchNorm statistic frozen: a visibility output added to a trained model without
    moving one of its points (the shipped starter's visibility was made so)."""
    cls_weight: float = 10.0
    reg_weight: float = 1.0
    vis_weight: float = 1.0
    """Weight of the visibility loss (binary cross-entropy at the true cell), with `visibility`."""
    fine_weight: float = 1.0
    """Weight of the eyes', mouth's and pupils' own offsets in the loss (1 = like every point)."""
    # augmentation (probabilities and ranges)
    rotate_prob: float = 0.5
    rotate_deg: float = 30.0
    scale_prob: float = 0.5
    scale_range: float = 0.1
    shift_prob: float = 0.5
    shift_frac: float = 0.05
    flip_prob: float = 0.5
    occlude_prob: float = 0.3
    occluders: str = "box"
    """Kinds of occluder `occlude_prob` draws from (`data.occluders.KINDS`, comma-separated, or 'all'):
    box, hand, hair, glasses, mask, phone, texture."""
    shape_prob: float = 0.0
    """Shape augmentation: with this probability a face gets random local changes (eyes, lids, mouth,
    lips, brows, jaw, chin) warped into the photo with its points mapped exactly (`data.augment.reshape_face`)."""
    shape_strength: float = 1.0
    """Largest |value| of each random change (1 = the retouch's full range, e.g. eyes +-30%)."""
    blur_prob: float = 0.1
    color_prob: float = 0.5
    jpeg_prob: float = 0.0
    """Re-encode as JPEG (quality 15-75): web/phone photo artefacts."""
    lowres_prob: float = 0.0
    """Shrink (x0.3-0.7) and enlarge back: small faces."""
    # run
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    out: str = "runs/exp"
    norm: str = "outer_eye"
    tensorboard: bool = False
    max_steps_per_epoch: int = 0
    """Cap steps per epoch (0 = full epoch); for smoke tests and quick experiments."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            import difflib

            hints = [f"{k} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(k, known, 1, 0.7)) else k
                     for k in unknown]
            raise UserError(f"unknown config key(s): {', '.join(hints)}")
        cfg = cls()
        for k, v in d.items():
            setattr(cfg, k, _coerce(k, v))
        return cfg

    def override(self, assignments: list[str]) -> "Config":
        """Apply ``key=value`` strings (values parsed as YAML) and return a new config."""
        d = self.to_dict()
        for a in assignments or []:
            if "=" not in a:
                raise UserError(f"--set expects key=value, got {a!r}")
            k, v = a.split("=", 1)
            d[k.strip()] = yaml.safe_load(v)
        return Config.from_dict(d)


TERMS_SEP = " | "
"""Between the terms of different data sources in `data_terms` (a model fine-tuned from another carries both)."""


def combine_terms(*terms: str) -> str:
    """The terms of a model trained on several sources, in order, each once: what it was initialised
    from first, then its own data's. A part already contained in another is dropped, so combining
    again (a fine-tune of a fine-tune, a resumed run) never grows the string; none is ever lost."""
    parts: list[str] = []
    for t in terms:
        for p in (t or "").split(TERMS_SEP):
            p = " ".join(p.split())
            if p and not any(p in q for q in parts):
                parts = [q for q in parts if q not in p] + [p]
    return TERMS_SEP.join(parts)


def terms_line(terms: str) -> str:
    """How `eval`, `export` and `info` show a model's training data terms (one line)."""
    return f"training data terms: {terms}" if terms else \
        "training data terms: none recorded (set data_terms in a training config to record yours)"


def _coerce(key: str, value: Any) -> Any:
    hint = get_type_hints(Config)[key]
    try:
        if hint is bool and isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        if hint is bool:
            return bool(value)
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if hint is float:
            return float(value)
        if hint is str:
            return "" if value is None else str(value)
        if getattr(hint, "__origin__", None) is list:
            return [int(x) for x in (value if isinstance(value, (list, tuple)) else [value])]
    except (TypeError, ValueError):
        raise UserError(f"config key {key}: cannot use {value!r} as {getattr(hint, '__name__', hint)}") from None
    return value


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The key: value mapping of a YAML config, keys checked (values are coerced by `Config.from_dict`)."""
    p = Path(path)
    from .fileio import read_text_file

    try:
        d = yaml.safe_load(read_text_file(p, "config file")) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(d, dict):
        raise UserError(f"{p}: config must be a mapping of key: value")
    try:
        Config.from_dict(d)
    except UserError as e:
        raise UserError(f"{p}: {e}") from None
    return d


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                base: Config | None = None) -> Config:
    """`base` (default: the defaults) + YAML file (optional) + ``key=value`` overrides -> validated Config."""
    d = (base or Config()).to_dict()
    if path:
        d.update(read_config_file(path))
    cfg = Config.from_dict(d).override(overrides or [])
    validate(cfg)
    return cfg


def origin(key: str, path: str | Path | None = None, overrides: list[str] | None = None) -> str:
    """Where a key's value came from, for messages: '--set key=v', the YAML file, or 'the default'."""
    for a in reversed(overrides or []):
        if a.split("=", 1)[0].strip() == key:
            return f"--set {a.strip()}"
    if path and key in read_config_file(path):
        return str(path)
    return "the default"


def validate(cfg: Config) -> None:
    from .layout import get_layout

    try:
        get_layout(cfg.layout)
    except ValueError as e:
        raise UserError(str(e)) from None
    if cfg.net_stride not in NET_STRIDES:
        raise UserError(f"net_stride must be one of {', '.join(map(str, NET_STRIDES))} (got {cfg.net_stride})")
    if cfg.input_size % cfg.net_stride != 0 or cfg.input_size < cfg.net_stride:
        raise UserError(f"input_size {cfg.input_size} must be a positive multiple of net_stride {cfg.net_stride}")
    if cfg.num_nb < 0:
        raise UserError(f"num_nb must be >= 0 (got {cfg.num_nb})")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise UserError("epochs, batch_size and lr must be positive")
    if cfg.warmup_steps < 0:
        raise UserError(f"warmup_steps must be >= 0 (got {cfg.warmup_steps})")
    if not (0.0 <= cfg.shape_prob <= 1.0 and cfg.shape_strength >= 0):
        raise UserError(f"shape_prob must be in [0, 1] and shape_strength >= 0 (got {cfg.shape_prob}, {cfg.shape_strength})")
    if cfg.train_only not in ("", "visibility"):
        raise UserError(f"train_only: {cfg.train_only!r}: use '' (everything) or 'visibility'")
    if cfg.train_only == "visibility" and not cfg.visibility:
        raise UserError("train_only: visibility needs visibility: true")
    if cfg.vis_weight < 0 or cfg.fine_weight < 0:
        raise UserError("vis_weight and fine_weight must be >= 0")
    occluder_kinds(cfg.occluders)
    _check_head(cfg)
    if cfg.part:
        from .layout import PARTS

        if cfg.part not in PARTS:
            raise UserError(f"unknown part {cfg.part!r}; known: {', '.join(PARTS)}")
        if get_layout(cfg.layout).name != PARTS[cfg.part].layout.name:
            raise UserError(f"part: {cfg.part} models predict layout {PARTS[cfg.part].layout.name}, not {cfg.layout}")
    if not 0.0 <= cfg.part_box_lag <= 1.0:
        raise UserError(f"part_box_lag must be in [0, 1] (got {cfg.part_box_lag})")
    if not cfg.crop_enlarge >= 0:
        raise UserError(f"crop_enlarge must be > 0, or 0 to take it from the prepared data (got {cfg.crop_enlarge})")
    # torch-free: the built-in names, plus any registered since `models` was imported
    known = set(BACKBONE_NAMES) | set(getattr(sys.modules.get("pipnet106.models.backbones"), "BACKBONES", ()))
    if cfg.backbone not in known:
        raise UserError(f"unknown backbone {cfg.backbone!r}; known: {', '.join(sorted(known))}")
    if cfg.width and cfg.backbone != "mobilenet_v2":
        raise UserError("width is a mobilenet_v2 option (1280, 640 or 320)")
    if cfg.width not in (0, *MBV2_WIDTHS):
        raise UserError(f"mobilenet_v2 width must be 1280, 640 or 320 (got {cfg.width})")


def _check_head(cfg: Config) -> None:
    """The non-PIP heads read the backbone's own map and have neither visibility nor part models."""
    if cfg.head not in HEAD_NAMES:
        raise UserError(f"unknown head {cfg.head!r}; known: {', '.join(HEAD_NAMES)}")
    if cfg.head != "pip":
        if cfg.net_stride not in (16, 32):
            raise UserError(f"head {cfg.head} reads the backbone's map: net_stride must be 16 or 32 (got {cfg.net_stride})")
        if cfg.visibility or cfg.part:
            raise UserError(f"head {cfg.head}: visibility and part models are PIPNet options (head: pip)")


def occluder_kinds(text: str) -> tuple[str, ...]:
    """Config value `occluders` ('box', 'hand,glasses' or 'all') -> the kinds; a wrong one is named."""
    kinds = OCCLUDER_KINDS if str(text).strip() == "all" else tuple(k.strip() for k in str(text).split(",") if k.strip())
    wrong = [k for k in kinds if k not in OCCLUDER_KINDS]
    if wrong or not kinds:
        raise UserError(f"occluders: unknown kind(s) {', '.join(wrong) or repr(text)}; "
                        f"known: {', '.join(OCCLUDER_KINDS)} or 'all'")
    return kinds
