"""The whole inference graph as one module: raw face crops in, points and confidences out.

`InferenceModule` holds the preprocessing (uint8 -> float, BGR -> RGB, optional grayscale,
ImageNet normalization), the network and PIPNet decoding, so the PyTorch path
(`infer.backends.TorchBackend`) and every exported file (`deploy.export`) run the same
operations and a runtime needs nothing but the file. Its preprocessing is the graph form of
`data.dataset.to_input`; a test checks the two agree, so training and inference cannot drift.
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..constants import IMAGENET_MEAN, IMAGENET_STD, INPUT_FORMATS, OUTPUT_NAMES, VISIBILITY_OUTPUT
from ..errors import UserError
from .checkpoint import LoadedModel, load_model
from .decode import Decoder


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

    @property
    def output_names(self) -> tuple[str, ...]:
        """('points', 'conf'), and 'visibility' for a model with a visibility head."""
        return OUTPUT_NAMES + ((VISIBILITY_OUTPUT,) if getattr(self.model, "has_visibility", False) else ())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """points (B,N,2), conf (B,N) [, visibility (B,N) in [0, 1]]."""
        return self.points_and_features(x)[:len(self.output_names)]

    def points_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """points, conf [, visibility], then the score map and the heads' features they were decoded from.

        The offset heads run only at the cells decoding reads (`Decoder.at_cells`): the full
        N*K-channel neighbour maps were a fifth of the exported graph's time at input 128.
        Another head (`models.heads`): points, conf, then its raw maps, all from one decoder call."""
        if getattr(self.model, "head", "pip") != "pip":
            maps = self.model(self.preprocess(x))
            return (*self.decoder(*maps), *maps)
        score, feats = self.model(self.preprocess(x), offsets=False)
        pts, conf, extra = self.decoder.at_cells(score, feats, *self.model.point_heads())
        vis = (torch.sigmoid(extra[..., 0]),) if getattr(self.model, "has_visibility", False) else ()
        return (pts, conf, *vis, score, feats)

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
        if getattr(self.inner.model, "head", "pip") != "pip":   # already (points, conf, *maps)
            return self.inner.points_and_features(x)
        *outs, score, feats = self.inner.points_and_features(x)
        return (*outs, score, *self.inner.model.offset_maps(feats))
