"""The local stage at inference: re-crop each eye and the mouth from the face model's points at a
finer pixel density, refine those points with the part models, put them back.

The crops follow the rule the part models were trained with (`data.parts`: square around the
part's points x the model's `crop_enlarge`, a right eye mirrored into a left one), so a part model
sees at inference the crops it learned on. All eyes of a batch of faces go through the eye model
in one batch, all mouths through the mouth model in another.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..crop import crop_from_points
from ..errors import UserError
from ..layout import LAPA106


class PartRefiner:
    """`refine(image, points, conf, vis)` -> the same with the parts' points replaced."""

    def __init__(self, backends: Sequence) -> None:
        from ..layout import part_of_layout

        self.parts = []
        for b in backends:
            spec = part_of_layout(b.layout)
            if spec is None:
                raise UserError(f"{b.path}: layout {b.layout.name} is not a part of {LAPA106.name} (eye or mouth)")
            self.parts.append((spec, b))

    @property
    def names(self) -> list[str]:
        return [spec.name for spec, _ in self.parts]

    def refine(self, image: np.ndarray, points: list[np.ndarray], conf: np.ndarray, vis: np.ndarray | None
               ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
        """Points (source pixels, one (106, 2) array per face), conf (F, 106) and visibility (F, 106) or
        None -> the same with every part's points (and their conf and visibility) from the part models."""
        if not points:
            return points, conf, vis
        points = [np.array(p, dtype=np.float64, copy=True) for p in points]
        conf = np.array(conf, copy=True)
        vis = None if vis is None else np.array(vis, copy=True)
        for spec, backend in self.parts:
            self._refine_part(image, spec, backend, points, conf, vis)
        return points, conf, vis

    def _refine_part(self, image, spec, backend, points, conf, vis) -> None:
        size, enlarge = backend.input_size, backend.enlarge
        jobs, crops = [], []
        for f, p in enumerate(points):
            for idx, mirrored in spec.instances():
                t = crop_from_points(p[list(idx)], size, enlarge)
                c = t.apply(image)
                crops.append(np.ascontiguousarray(c[:, ::-1]) if mirrored else c)
                jobs.append((f, list(idx), mirrored, t))
        pts, pconf, pvis = backend.predict(np.stack(crops))
        for (f, idx, mirrored, t), q, c, v in zip(jobs, pts, pconf, pvis if pvis is not None else [None] * len(jobs)):
            q = q * size
            if mirrored:
                q[:, 0] = size - q[:, 0]
            points[f][idx] = t.to_source(q)
            conf[f, idx] = c
            if vis is not None and v is not None:
                vis[f, idx] = v
