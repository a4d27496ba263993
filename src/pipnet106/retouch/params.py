"""What a retouch does: one dataclass of adjustments, their signs, presets, colours.

Every shape adjustment is a float in [-1, 1]; 0 leaves the face alone and the
sign follows one rule, "positive = more of what the name says" (bigger eyes,
wider jaw, longer chin), except `face_slim` where positive = slimmer. Sizes are
fractions of the face's own scale, so a value does the same thing on a 300 px
and a 3000 px face. The `PARAMS` table is the single source the CLI, the docs
and the tests read.
"""
from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, fields, replace

from ..errors import UserError
from ..shape.primitives import SHAPE_CHANGES

RETOUCH_SHAPES = ("face_slim", "jaw_width", "chin_length", "eye_size", "eye_distance", "nose_width", "nose_length",
                  "lip_fullness", "mouth_width", "brow_lift", "v_face", "cheekbone", "forehead", "eye_tilt")
"""The shape changes a retouch offers (`shape.primitives.SHAPE_CHANGES` has their geometry and sign)."""

# name -> (kind, what a positive value does). kind: "shape" in [-1, 1]; "amount" in [0, 1].
PARAMS: dict[str, tuple[str, str]] = {
    **{name: ("shape", SHAPE_CHANGES[name][1]) for name in RETOUCH_SHAPES},
    "smooth_skin": ("amount", "edge-preserving smoothing of the skin (eyes, brows, lips and hair excluded)"),
    "lipstick_amount": ("amount", "how far the lips' hue and chroma move to `lipstick` (lightness texture kept)"),
    "blush": ("amount", "soft colour on the cheeks (`blush_color`)"),
    "skin_tone": ("amount", "skin lighter and a little rosier (skin mask only: hair, eyes, lips, background untouched)"),
    "teeth_whiten": ("amount", "bright, low-chroma pixels inside the inner lip line lighter and less yellow"),
    "eye_brighten": ("amount", "the eye inside its ring (sclera and iris) lighter, the sclera less red; lids untouched"),
    "under_eye": ("amount", "dark circles below the eyes moved toward the cheek's tone below (lashes untouched)"),
    "eyeliner": ("amount", "a line along each upper lid, winged at the outer corner (`eyeliner_color`, "
                           "`eyeliner_width`)"),
    "eyeshadow": ("amount", "soft colour on the lid between the lid line and the brow (`eyeshadow_color`)"),
    "brow_tint": ("amount", "brows recoloured toward `brow_color` (their lightness texture kept)"),
    "lens": ("amount", "coloured lens: the iris (a circle at the pupil, clipped by the lids) toward `lens_color`"),
}
SHAPE_PARAMS = tuple(k for k, (kind, _) in PARAMS.items() if kind == "shape")
AMOUNT_PARAMS = tuple(k for k, (kind, _) in PARAMS.items() if kind == "amount")

DEFAULT_BLUSH = (235, 120, 130)
DEFAULT_LIPSTICK_AMOUNT = 0.5
DEFAULT_EYELINER = (35, 25, 25)       # near-black brown
DEFAULT_EYESHADOW = (150, 95, 120)    # mauve
DEFAULT_BROW = (75, 50, 40)           # dark brown
DEFAULT_LENS = (70, 120, 190)         # blue
NAMED_COLORS: dict[str, tuple[int, int, int]] = {  # RGB
    # lips and cheeks
    "red": (190, 30, 45), "rose": (200, 80, 110), "pink": (230, 110, 150), "coral": (240, 110, 90),
    "berry": (130, 30, 70), "plum": (110, 40, 80), "nude": (190, 120, 110), "wine": (110, 20, 40),
    # eyes (lenses), liner, shadow and brows
    "blue": DEFAULT_LENS, "green": (70, 135, 85), "hazel": (140, 105, 55), "grey": (125, 135, 145),
    "violet": (120, 90, 175), "brown": DEFAULT_BROW, "black": (20, 18, 18),
    "mauve": DEFAULT_EYESHADOW, "taupe": (140, 120, 110), "bronze": (165, 110, 60), "gold": (200, 160, 80),
}
NAMED_COLORS["gray"] = NAMED_COLORS["grey"]   # both spellings, one colour
DEFAULT_EYELINER_WIDTH = 0.5
COLOR_OF: dict[str, str] = {"blush": "blush_color", "eyeliner": "eyeliner_color", "eyeshadow": "eyeshadow_color",
                            "brow_tint": "brow_color", "lens": "lens_color"}
"""amount -> the field holding its colour (the CLI's `--NAME AMOUNT[:COLOR]`)."""
DEFAULT_COLORS = {"blush_color": DEFAULT_BLUSH, "eyeliner_color": DEFAULT_EYELINER,
                  "eyeshadow_color": DEFAULT_EYESHADOW, "brow_color": DEFAULT_BROW, "lens_color": DEFAULT_LENS}


def parse_color(text: str | tuple | list) -> tuple[int, int, int]:
    """'red', '#c8102e', 'c8102e' or (r, g, b) -> RGB tuple of ints."""
    if isinstance(text, (tuple, list)):
        if len(text) != 3 or not all(0 <= float(c) <= 255 for c in text):
            raise UserError(f"colour must be three values in 0..255 (R, G, B), got {text!r}")
        return tuple(int(round(float(c))) for c in text)  # type: ignore[return-value]
    s = str(text).strip().lower()
    if s in NAMED_COLORS:
        return NAMED_COLORS[s]
    h = s[1:] if s.startswith("#") else s
    if len(h) == 6 and all(c in "0123456789abcdef" for c in h):
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    raise UserError(f"unknown colour {text!r}: use #rrggbb or one of {', '.join(NAMED_COLORS)}")


@dataclass(frozen=True)
class Adjustments:
    """One retouch: shape values in [-1, 1] (sign: see `PARAMS`), makeup amounts in [0, 1]."""

    face_slim: float = 0.0
    jaw_width: float = 0.0
    chin_length: float = 0.0
    eye_size: float = 0.0
    eye_distance: float = 0.0
    nose_width: float = 0.0
    nose_length: float = 0.0
    lip_fullness: float = 0.0
    mouth_width: float = 0.0
    brow_lift: float = 0.0
    v_face: float = 0.0
    cheekbone: float = 0.0
    forehead: float = 0.0
    eye_tilt: float = 0.0
    smooth_skin: float = 0.0
    lipstick_amount: float = 0.0
    blush: float = 0.0
    skin_tone: float = 0.0
    teeth_whiten: float = 0.0
    eye_brighten: float = 0.0
    under_eye: float = 0.0
    eyeliner: float = 0.0
    eyeshadow: float = 0.0
    brow_tint: float = 0.0
    lens: float = 0.0
    lipstick: tuple[int, int, int] | None = None   # RGB; None = no lipstick (needs lipstick_amount > 0)
    blush_color: tuple[int, int, int] = DEFAULT_BLUSH
    eyeliner_color: tuple[int, int, int] = DEFAULT_EYELINER
    eyeshadow_color: tuple[int, int, int] = DEFAULT_EYESHADOW
    brow_color: tuple[int, int, int] = DEFAULT_BROW
    lens_color: tuple[int, int, int] = DEFAULT_LENS
    eyeliner_width: float = DEFAULT_EYELINER_WIDTH   # fraction of the widest line (`makeup` EYELINER_WIDTH), (0, 1]

    def __post_init__(self) -> None:
        for name in SHAPE_PARAMS + AMOUNT_PARAMS:
            v = getattr(self, name)
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise UserError(f"{name} must be a number, got {v!r}") from None
            lo = -1.0 if name in SHAPE_PARAMS else 0.0
            if not (lo <= v <= 1.0):  # also rejects NaN
                raise UserError(f"{name} must be in [{lo:g}, 1], got {v:g}")
            object.__setattr__(self, name, v)
        if self.lipstick is not None:
            object.__setattr__(self, "lipstick", parse_color(self.lipstick))
        for name in DEFAULT_COLORS:
            object.__setattr__(self, name, parse_color(getattr(self, name)))
        try:
            width = float(self.eyeliner_width)
        except (TypeError, ValueError):
            raise UserError(f"eyeliner_width must be a number, got {self.eyeliner_width!r}") from None
        if not (0.0 < width <= 1.0):
            raise UserError(f"eyeliner_width must be in (0, 1], got {width:g}")
        object.__setattr__(self, "eyeliner_width", width)

    @property
    def shape(self) -> dict[str, float]:
        """Non-zero shape values."""
        return {k: getattr(self, k) for k in SHAPE_PARAMS if getattr(self, k) != 0.0}

    @property
    def has_shape(self) -> bool:
        return bool(self.shape)

    @property
    def has_makeup(self) -> bool:
        return (any(getattr(self, k) > 0 for k in AMOUNT_PARAMS if k != "lipstick_amount")
                or (self.lipstick is not None and self.lipstick_amount > 0))

    @property
    def is_identity(self) -> bool:
        return not self.has_shape and not self.has_makeup

    def scaled(self, strength: float) -> "Adjustments":
        """Every value times `strength` (clipped to its range): one knob for a whole preset."""
        s = float(strength)
        if not (0.0 <= s <= 2.0):
            raise UserError(f"strength must be in [0, 2], got {strength!r}")
        kw = {}
        for name in SHAPE_PARAMS + AMOUNT_PARAMS:
            lo = -1.0 if name in SHAPE_PARAMS else 0.0
            kw[name] = min(1.0, max(lo, getattr(self, name) * s))
        out = replace(self, **kw)
        if out.lipstick is not None and out.lipstick_amount == 0.0:
            out = replace(out, lipstick=None)
        return out

    def updated(self, **values) -> "Adjustments":
        """A copy with some values replaced (unknown names are a UserError)."""
        known = {f.name for f in fields(self)}
        bad = sorted(set(values) - known)
        if bad:
            close = {b: difflib.get_close_matches(b, known, n=1) for b in bad}
            hint = "; ".join(f"{b}: did you mean {c[0]}?" for b, c in close.items() if c)
            raise UserError(f"unknown adjustment(s) {', '.join(bad)}" + (f" ({hint})" if hint else "")
                            + f"; known: {', '.join(sorted(known))}")
        if values.get("lipstick") is not None and "lipstick_amount" not in values and not self.lipstick_amount:
            values["lipstick_amount"] = DEFAULT_LIPSTICK_AMOUNT   # a colour alone means "some lipstick"
        return replace(self, **values)

    def to_dict(self) -> dict:
        """Only what is not default, JSON-ready."""
        d = {k: v for k, v in asdict(self).items() if v not in (0.0, None)}
        for amount, key in COLOR_OF.items():
            if d.get(key) == DEFAULT_COLORS[key] and not getattr(self, amount):
                d.pop(key)
        if self.eyeliner_width == DEFAULT_EYELINER_WIDTH or not self.eyeliner:
            d.pop("eyeliner_width", None)
        for k in ("lipstick", *DEFAULT_COLORS):
            if k in d:
                d[k] = "#%02x%02x%02x" % tuple(d[k])
        return d


PRESETS: dict[str, Adjustments] = {
    "natural": Adjustments(face_slim=0.3, eye_size=0.25, nose_width=-0.2, chin_length=0.1, lip_fullness=0.15,
                           skin_tone=0.15, under_eye=0.3, eye_brighten=0.2, teeth_whiten=0.2),
    "strong": Adjustments(face_slim=0.7, jaw_width=-0.3, eye_size=0.6, nose_width=-0.5, chin_length=0.25,
                          lip_fullness=0.3, brow_lift=0.2, smooth_skin=0.5),
    "slim": Adjustments(face_slim=0.6, jaw_width=-0.4, chin_length=0.2),
    "big_eyes": Adjustments(eye_size=0.6, eye_distance=0.1, brow_lift=0.15),
    "makeup": Adjustments(smooth_skin=0.4, lipstick=NAMED_COLORS["rose"], lipstick_amount=0.5, blush=0.3),
    "glam": Adjustments(face_slim=0.4, eye_size=0.35, nose_width=-0.3, chin_length=0.1, lip_fullness=0.2,
                        v_face=0.2, eye_tilt=0.2, smooth_skin=0.5, lipstick=NAMED_COLORS["red"], lipstick_amount=0.6,
                        blush=0.3, eyeliner=0.8, eyeshadow=0.5, brow_tint=0.3, eye_brighten=0.3, teeth_whiten=0.4,
                        under_eye=0.4),
    "fresh": Adjustments(skin_tone=0.3, under_eye=0.5, eye_brighten=0.3, teeth_whiten=0.4, blush=0.15),
}


# What each preset is for (`retouch --list`, the preset table in docs/retouching.md; how far each moves a face is
# measured by `warp.template_shift`).
PRESET_USES: dict[str, str] = {
    "natural": "the lightest touch on every feature, a little brighter skin, eyes and teeth: seen side by side, "
               "not at a glance",
    "strong": "every feature and the skin at once: an obvious beauty-filter look",
    "slim": "face shape only (cheeks, V-shaped jaw, chin): the largest contour move",
    "big_eyes": "eyes only: larger, a little further apart, brows up",
    "makeup": "no shape change: smoothed skin, rose lipstick, blush",
    "glam": "moderate shape (V-face, lifted eyes) with full makeup: red lipstick, eyeliner, eyeshadow",
    "fresh": "colour only, no shape change: lighter, rosier skin, softer under-eyes, brighter eyes and teeth",
}


def get_preset(name: str) -> Adjustments:
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
