"""What human labels add: models against 300-W human labels imported with `prepare --labels-layout ibug68`.

On held-out faces with human labels (e.g. HELEN's test split and AFW, prepared with
`pipnet106 prepare ... --labels-layout ibug68 --crop face --size 256 --test-frac 0`), for each model:

  NME      per region, % of the labels' outer-eye distance, over all faces and per set (the
           folder each photo came from): eyes (corners and re-sampled lids), mouth and nose against
           the human labels; contour, brows and pupils, which 300-W lacks, against the labels
           `--fill-from` added (the teacher's), where the data has them
  slopes   predicted against labelled eye opening and mouth opening across the faces (1 = the
           differences between faces are kept, below 1 = pulled to the mean face)
  follow   `pipnet106.train.follow` on --follow-faces faces (a seeded choice): known changes of eyes and
           mouth (eyes larger / smaller / opened, the unseen lens; mouth wider / opened, lips) with
           the warp built on the labels; points the labels lack are filled with the first model's
           prediction so that the warp has a whole face

    OMP_NUM_THREADS=2 python benchmarks/human_labels.py v2=src/pipnet106/assets/starter.onnx \\
        helen=runs/helen_ft/best.pt --data /work/data/prep/ht_test256 --list train.txt

Prints a table and writes benchmarks/results/human_labels.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pipnet106 import Landmarker
from pipnet106.data.dataset import list_path
from pipnet106.data.formats import read_list
from pipnet106.fileio import atomic_write_json, read_image
from pipnet106.infer.backends import load_backend
from pipnet106.infer.parts import PartRefiner
from pipnet106.layout import LAPA106
from pipnet106.measures import eye_opening, mouth_opening
from pipnet106.train.evaluate import nme
from pipnet106.train.follow import CHANGES, measure_follow

REGIONS = {"eyes": list(range(66, 74)) + list(range(75, 83)), "mouth": list(range(84, 104)),
           "nose": [51, 52, 53, 54, 58, 59, 60, 61, 62], "contour": list(range(33)),
           "brows": list(range(33, 51)), "pupils": [104, 105]}
EYE_MOUTH = tuple(c for c in CHANGES if c.measure in ("eye_area", "eye_opening", "mouth_width", "mouth_opening",
                                                        "lip_height"))


def faces(data: Path, list_name: str) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(image, labels in its pixels, set = the name of the folder the photo came from)."""
    sets = {s["image"]: Path(s["source"]).parent.name
            for s in json.loads((data / "manifest.json").read_text())["samples"]}
    out = []
    for name, pts in read_list(list_path(data, list_name), 106):
        image = read_image(data / name, exif=False)
        out.append((image, pts * np.array([image.shape[1], image.shape[0]]), sets.get(name, "")))
    return out


def predict(lm: Landmarker, image: np.ndarray) -> np.ndarray:
    """Points of the face a prepared face crop holds (its landmark box: the crop without its 1.25 margin)."""
    s = image.shape[0]
    box = np.array([[s * 0.1, s * 0.1, s * 0.9, s * 0.9]])
    return np.asarray(lm.landmarks_for_boxes(image, box)[0][0], dtype=np.float64)


def region_nme(preds: list[np.ndarray], labs: list[np.ndarray]) -> dict[str, float]:
    """NME % per region over the faces whose labels have that region (`train.evaluate.nme`: NaN
    for a face without it; the regions' points are labelled all or none)."""
    if not preds:
        return {}
    pred, gt = np.stack(preds), np.stack(labs)
    per = {k: nme(pred, gt, LAPA106, "outer_eye", idx) for k, idx in REGIONS.items()}
    return {k: round(100 * float(np.nanmean(v)), 3) for k, v in per.items() if np.isfinite(v).any()}


def scores(preds: list[np.ndarray], labs: list[np.ndarray], sets: list[str]) -> dict:
    across = {"eye_opening": ([], []), "mouth_opening": ([], [])}
    for p, lab in zip(preds, labs):
        iod = float(LAPA106.norm_distance(lab, "outer_eye"))
        for k, fn in (("eye_opening", eye_opening), ("mouth_opening", mouth_opening)):
            across[k][0].append(fn(lab) / iod)
            across[k][1].append(fn(p) / iod)
    slopes = {}
    for k, (x, y) in across.items():
        x, y = np.asarray(x), np.asarray(y)
        slopes[k] = float(np.cov(x, y, bias=True)[0, 1] / np.var(x))
    per_set = {s: region_nme([p for p, t in zip(preds, sets) if t == s], [b for b, t in zip(labs, sets) if t == s])
               for s in sorted(set(sets))}
    return {"nme_pct": region_nme(preds, labs), "nme_pct_per_set": per_set,
            "slopes": {k: round(v, 3) for k, v in slopes.items()}}


def repeat_eye(parts, passes: int) -> None:
    """The eye model run `passes` times, each crop cut from the previous pass's points: how far a
    part model that draws toward the usual size closes the gap when its crop follows its own output."""
    once = parts.refine
    eyes = PartRefiner([b for spec, b in parts.parts if spec.name == "eye"])

    def refine(image, points, conf, vis):
        out = once(image, points, conf, vis)
        for _ in range(passes - 1):
            out = eyes.refine(image, *out)
        return out

    parts.refine = refine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="name=face model[+part model...] (part models: the local stage, "
                    "e.g. an eye model's best.pt; the first model also fills unlabelled points for --follow)")
    ap.add_argument("--data", required=True, help="prepared folder of human-labelled faces (--labels-layout ibug68)")
    ap.add_argument("--list", default="test.txt")
    ap.add_argument("--follow-faces", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="benchmarks/results/human_labels.json")
    ap.add_argument("--eye-passes", type=int, default=1, help="run the eye model this many times, each crop cut "
                    "from the last pass's points (an experiment: model card, 'The crop box that lags the change')")
    a = ap.parse_args()
    data = faces(Path(a.data), a.list)
    labs, sets = [lab for _, lab, _ in data], [s for _, _, s in data]
    pick = np.sort(np.random.default_rng(0).choice(len(data), min(a.follow_faces, len(data)), replace=False))
    out = {"data": a.data, "list": a.list, "faces": len(data), "follow_faces": min(a.follow_faces, len(data)),
           "models": {}}
    filled = None
    for spec in a.models:
        name, path = spec.split("=", 1)
        face, *parts = path.split("+")
        lm = Landmarker.from_path(face, threads=a.threads, detector=None,
                                  parts=[load_backend(q, threads=a.threads) for q in parts])
        if a.eye_passes > 1 and lm.parts is not None:
            repeat_eye(lm.parts, a.eye_passes)
        preds = [predict(lm, image) for image, _, _ in data]
        if filled is None:
            filled = [np.where(np.isfinite(lab), lab, p) for lab, p in zip(labs, preds)]
        res = scores(preds, labs, sets)
        fol = measure_follow(lm, [(data[i][0], filled[i]) for i in pick], EYE_MOUTH)
        res["follow"] = {k: round(v, 3) for k, v in fol["parts"].items()}
        res["follow_per_change"] = {k: round(c["follow"], 3) for k, c in fol["changes"].items()}
        out["models"][name] = {"path": path, **res}
        print(f"{name}: NME % {res['nme_pct']}  slopes {res['slopes']}  follow {res['follow']}", flush=True)
        atomic_write_json(a.json, out)


if __name__ == "__main__":
    main()
