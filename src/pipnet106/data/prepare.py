"""`pipnet106 prepare`: check labelled photos and build a training folder.

Reads one or more sources (folders of ``photo.jpg`` + ``photo.txt``, LaPa folders, JSONL files),
skips bad samples with a one-line reason each, crops every good sample with the shared crop rule
(`crop.py`) and writes the folder described in docs/DESIGN.md: ``images/``, ``train.txt``,
``test.txt``, ``meanface.txt`` and ``manifest.json`` (which maps every crop back to source pixels).

Safety: sources are only read. Crops are first written to a hidden staging folder inside the
output and moved into ``images/`` only when the run succeeds; lists, mean face and the manifest
are written last (manifest last of all). So a failed, interrupted or ``--strict`` run leaves an
existing prepared dataset as it was (with ``--strict``, any skipped sample means nothing is
written and the exit code is non-zero).
"""
from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from tqdm import tqdm

from .. import __version__
from ..constants import REFERENCE_MEANFACE
from ..crop import DEFAULT_ENLARGE, crop_from_points, letterbox_transform, points_box, square_crop
from ..errors import SampleError, UserError
from ..fileio import IMAGE_EXTS, atomic_write_image, atomic_write_json, read_image
from .formats import (FORMATS, LABEL_EXT, MISSING_IMAGE, OUTSIDE, FaceFilter, Sample, load_source, read_names,
                      read_points_txt, read_sample_points, write_list)
from ..layout import get_layout
from .convert import Conversion, get_conversion
from .meanface import compute_meanface, fill_meanface, load_meanface, neighbors, save_meanface

CROP_MODES = ("letterbox", "face")
_STAGING_PREFIX = ".prepare-"


@dataclass
class PrepareSummary:
    out: Path
    num_train: int = 0
    num_test: int = 0
    num_unused: int = 0
    """Samples in neither given split list (only when both lists are given); not written."""
    skipped: list[dict] = field(default_factory=list)
    """One ``{"path", "reason", "detail"}`` per skipped sample."""
    filtered: dict[str, int] = field(default_factory=dict)
    """Predicted faces left out by `--min-conf` / `--reliable-only`: reason -> count (not skips)."""
    seconds: float = 0.0

    @property
    def num_prepared(self) -> int:
        return self.num_train + self.num_test

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    @property
    def num_filtered(self) -> int:
        return sum(self.filtered.values())

    def line(self) -> str:
        """The whole run in one line (what `--quiet` still prints)."""
        extra = f", {self.num_unused} not in the split lists" if self.num_unused else ""
        return (f"prepared {self.num_prepared} samples (train {self.num_train}, test {self.num_test}{extra}), "
                f"{self.num_skipped} skipped, {self.num_filtered} faces filtered -> {self.out}")

    @property
    def reasons(self) -> dict[str, int]:
        return dict(Counter(s["reason"] for s in self.skipped))

    @property
    def images_per_s(self) -> float:
        return (self.num_prepared + self.num_skipped) / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Job:
    """One sample to process in a worker; everything it needs, picklable."""

    index: int
    sample: Sample
    fmt: str
    num_points: int
    size: int
    crop: str
    enlarge: float
    staged: str  # path of the staged crop (worker writes it)
    labels_layout: str = ""  # labels in this layout, converted to `layout` (`convert.py`); "" = the same
    layout: str = ""
    fill_from: str = ""  # folder of full `layout` labels for the points the converted labels lack


# --------------------------------------------------------------------------- worker side

def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core; no thread oversubscription


def _crop_ext(path: Path) -> str:
    ext = path.suffix.lower()
    return ext if ext in IMAGE_EXTS else ".png"


def _process(job: _Job) -> dict:
    """Validate, crop and stage one sample -> result dict (never raises for a bad sample)."""
    s = job.sample
    try:
        if s.image is None:
            raise SampleError(s.label, MISSING_IMAGE, f"no image named {Path(s.key).name}.*")
        conv = get_conversion(job.labels_layout, job.layout) if job.labels_layout else None
        pts = read_sample_points(s, job.fmt, conv.src_points if conv else job.num_points)
        image = read_image(s.image)
        h, w = image.shape[:2]
        inside = (pts[:, 0] >= 0) & (pts[:, 0] <= w) & (pts[:, 1] >= 0) & (pts[:, 1] <= h)
        if not inside.any():
            raise SampleError(s.label or s.image, OUTSIDE, f"image is {w}x{h}")
        box = None
        if conv is not None:   # partial labels (NaN rows) and the box the full layout would have
            pts, box = conv(pts)
            if job.fill_from:
                pts, box = _fill(pts, box, Path(job.fill_from) / f"{s.key}{LABEL_EXT}", job.num_points)
        if job.crop == "face":
            tf = crop_from_points(pts, job.size, job.enlarge) if box is None else square_crop(box, job.size, job.enlarge)
        else:
            tf = letterbox_transform(w, h, job.size)
        atomic_write_image(job.staged, tf.apply(image))
        norm = tf.to_crop(pts) / job.size
        return {"index": job.index, "ok": True, "points": norm, "transform": tf.to_dict(),
                "source_size": [int(w), int(h)]}
    except SampleError as e:
        return {"index": job.index, "ok": False, "path": e.path, "reason": e.reason, "detail": e.detail}


FILL_AGREE = 0.1
"""A fill label is of the same face when its points lie within this share of the face's size (the
labels' box diagonal) of the converted labels, on median (a photo of several faces may have its
fill label on another one)."""


def _fill(pts: np.ndarray, box: np.ndarray, fill: Path, num_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Converted labels with their unlabelled points taken from a full label of the same face
    (e.g. the teacher's), and then the merged points' box; as they were when there is no such label."""
    if not fill.is_file():
        return pts, box
    other = read_points_txt(fill, num_points)
    have = np.isfinite(pts).all(axis=1)
    size = float(np.hypot(box[2] - box[0], box[3] - box[1]))
    if not have.any() or np.median(np.linalg.norm(other[have] - pts[have], axis=1)) > FILL_AGREE * size:
        return pts, box
    merged = np.where(have[:, None], pts, other)
    return merged, points_box(merged)


def _run_jobs(jobs: list[_Job], workers: int, progress: bool) -> Iterator[dict]:
    bar = tqdm(total=len(jobs), desc="prepare", unit="img", disable=not progress, file=sys.stderr)
    try:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                yield _process(job)
                bar.update(1)
            return
        chunk = max(1, min(16, len(jobs) // (workers * 8)))
        ctx = multiprocessing.get_context("spawn")  # no fork of a possibly threaded parent
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as ex:
            try:
                for res in ex.map(_process, jobs, chunksize=chunk):
                    yield res
                    bar.update(1)
            except BaseException:
                ex.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        bar.close()


# --------------------------------------------------------------------------- main side

def _is_within(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
        return True
    except ValueError:
        return False


def _check_paths(sources: list[Path], out: Path, labels_dir: Path | None) -> None:
    out_r = out.resolve()
    for src in sources:
        if not src.exists():
            raise UserError(f"{src}: source not found")
        src_r = src.resolve()
        if src.is_dir() and _is_within(out_r, src_r):
            raise UserError(f"output folder {out} is inside source folder {src}; choose an output outside "
                            "the sources (sources are never modified)")
        if _is_within(src_r, out_r):
            raise UserError(f"source {src} is inside the output folder {out}; choose another output folder")
    if labels_dir is not None and _is_within(out_r, labels_dir.resolve()):
        raise UserError(f"output folder {out} is inside the labels folder {labels_dir}")


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: output exists and is not a folder")
    if out.is_dir():
        entries = [p for p in out.iterdir() if not p.name.startswith(_STAGING_PREFIX)]
        if entries and not overwrite:
            raise UserError(f"{out}: output folder is not empty; use --overwrite to replace the prepared dataset")


_SAFE = re.compile(r"[\s]+")


def _unique_stem(stem: str, used: set[str]) -> str:
    """Stem with whitespace replaced (list files split on it), made unique case-insensitively."""
    base = _SAFE.sub("_", stem.strip()) or "image"
    name, i = base, 2
    while name.lower() in used:
        name, i = f"{base}__{i}", i + 1
    used.add(name.lower())
    return name


def _name_keys(name: str) -> set[str]:
    n = name.strip().replace("\\", "/")
    while n.startswith("./"):
        n = n[2:]
    p = Path(n)
    if p.suffix.lower() in IMAGE_EXTS:
        p = p.with_suffix("")
    return {p.as_posix(), p.name}


def _sample_keys(s: Sample) -> set[str]:
    return {s.key, Path(s.key).name}


def _match(samples: list[Sample], names: list[str], what: str, verbose: bool) -> set[int]:
    """Indices of samples named in a split list; warns about names that match nothing."""
    wanted: dict[str, str] = {}
    for n in names:
        for k in _name_keys(n):
            wanted.setdefault(k, n)
    hit_names: set[str] = set()
    out = set()
    for i, s in enumerate(samples):
        common = _sample_keys(s) & wanted.keys()
        if common:
            out.add(i)
            hit_names.update(wanted[k] for k in common)
    missing = [n for n in names if n not in hit_names]
    if missing and verbose:
        print(f"note: {len(missing)} name(s) in the {what} list match no sample (e.g. {missing[0]})")
    return out


def _load_manifest_images(out: Path) -> set[str]:
    """Images listed by a previous run's manifest (the only files a rerun may delete)."""
    import json

    try:
        m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        names = {s["image"] for s in m.get("samples", [])}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return set()
    return {n for n in names if isinstance(n, str) and re.fullmatch(r"images/[^/\\]+", n)
            and n not in ("images/.", "images/..")}


def prepare(sources: Iterable[str | Path] | str | Path, out: str | Path, *, size: int = 256,
            crop: str = "letterbox", enlarge: float = DEFAULT_ENLARGE, test_frac: float = 0.1, seed: int = 0,
            train_names: str | Path | Iterable[str] | None = None,
            test_names: str | Path | Iterable[str] | None = None,
            labels_dir: str | Path | None = None, fmt: str = "auto", layout: str = "lapa106",
            labels_layout: str | None = None, fill_from: str | Path | None = None, num_nb: int = 10, overwrite: bool = False, strict: bool = False,
            workers: int = 2,
            recursive: bool = True, progress: bool = True, verbose: bool = True, min_conf: float = 0.0,
            reliable_only: bool = False) -> PrepareSummary:
    """Build a prepared dataset folder from labelled sources; see the module docstring.

    Steps: check the arguments, scan the sources, crop every sample (bad ones skipped), split,
    write. `train_names` / `test_names` (a list file, or names) fix the split instead of the seeded
    random `test_frac` split; with only one given, the other split is the rest. `labels_layout`:
    the labels are in this layout and are converted to `layout` (`convert.py`: 300-W 68 points
    become partial 106-point labels); `fill_from`, a folder of full labels of the same photos (same
    relative stems, e.g. the teacher's from `autolabel`), fills the points they lack. `min_conf` and
    `reliable_only` leave out predicted faces (`formats.FaceFilter`). Raises `UserError`
    for bad arguments, an unsafe output folder, no valid samples, or (with `strict`) any skipped sample.
    """
    t0 = time.perf_counter()
    srcs = [Path(sources)] if isinstance(sources, (str, Path)) else [Path(s) for s in sources]
    out = Path(out)
    lab_dir = Path(labels_dir) if labels_dir is not None else None
    lay = _check_args(srcs, out, lab_dir, size=size, crop=crop, enlarge=enlarge, test_frac=test_frac, fmt=fmt,
                      layout=layout, num_nb=num_nb, overwrite=overwrite)
    conv = get_conversion(labels_layout, lay.name) if labels_layout else None
    if fill_from is not None and (conv is None or not Path(fill_from).is_dir()):
        raise UserError(f"{fill_from}: labels folder not found" if conv is not None else
                        "--fill-from fills the points that --labels-layout leaves unlabelled; give both")
    found, filtered = _scan(srcs, out, fmt, lab_dir, recursive, FaceFilter(min_conf, reliable_only))
    given_split = _given_split([s for _, s in found], train_names, test_names, verbose)
    todo = [i for i in range(len(found)) if given_split.get(i) != "unused"]

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=out))
    try:
        summary = PrepareSummary(out=out, num_unused=len(found) - len(todo), filtered=filtered)
        good = _crop_all(found, todo, staging, num_points=lay.num_points, size=int(size), crop=crop,
                         enlarge=float(enlarge), conv=conv, fill_from=fill_from, workers=workers, progress=progress and verbose, verbose=verbose,
                         summary=summary)
        if strict and summary.skipped:
            _print_summary(summary, verbose, wrote=False)
            raise UserError(f"--strict: {summary.num_skipped} sample(s) skipped ({_reason_text(summary)}); "
                            f"nothing written to {out}")
        if not good:
            _print_summary(summary, verbose, wrote=False)
            raise UserError(f"no valid samples in {', '.join(map(str, srcs))} ({summary.num_skipped} skipped)")
        train, test = _split(good, given_split, test_frac, seed)
        summary.num_train, summary.num_test = len(train), len(test)
        meanface = _meanface(np.stack([g["points"] for g in train]), lay.name, conv, verbose)
        if num_nb:
            neighbors(meanface, num_nb)  # fails early here, not at training time
        settings = {"layout": lay.name, "num_points": lay.num_points, "input_size": int(size), "crop": crop,
                    "enlarge": float(enlarge), "num_nb": int(num_nb), "seed": int(seed),
                    "test_frac": float(test_frac), "sources": [os.path.abspath(s) for s in srcs]}
        if conv is not None:
            settings["labels_layout"] = conv.src
            if fill_from is not None:
                settings["fill_from"] = os.path.abspath(fill_from)
        _write(out, good, train, test, meanface, settings, summary.skipped, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()  # a failed run into a new folder leaves nothing behind
    summary.seconds = time.perf_counter() - t0
    _print_summary(summary, verbose, wrote=True)
    if not test:
        why = (f"{len(good)} valid sample is too few for a test split" if len(good) == 1 else
               "the test split is empty" + (" (--test-frac 0)" if not given_split and not test_frac else ""))
        warnings.warn(f"{out}: {why}; `pipnet106 train` validates on test.txt, so add samples, use "
                      "--test-frac / --test-list, or train with --set test_list=OTHER_LIST")
    return summary


def _meanface(points: np.ndarray, layout: str, conv: Conversion | None, verbose: bool) -> np.ndarray:
    """The training split's mean face. Points that converted labels never give (the contour and
    brows of 300-W faces) come from the layout's reference mean face (`meanface.fill_meanface`):
    such a dataset is for fine-tuning a model that knows them (`train --init`), which keeps its own
    mean face and neighbours."""
    if conv is None or layout not in REFERENCE_MEANFACE:
        return compute_meanface(points)
    mean, filled = fill_meanface(points, load_meanface(REFERENCE_MEANFACE[layout], len(points[0])))
    if filled and verbose:
        print(f"{len(filled)} of the {layout} points are never labelled by {conv.src} labels (masked in "
              "training); fine-tune a model that knows them (train --init starter)", file=sys.stderr)
    return mean


def _check_args(srcs: list[Path], out: Path, lab_dir: Path | None, *, size: int, crop: str, enlarge: float,
                test_frac: float, fmt: str, layout: str, num_nb: int, overwrite: bool):
    """Every argument and the output folder, before any work -> the Layout."""
    try:
        lay = get_layout(layout)
    except ValueError as e:
        raise UserError(str(e)) from None
    if not srcs:
        raise UserError("prepare: give at least one source")
    if crop not in CROP_MODES:
        raise UserError(f"crop must be one of {', '.join(CROP_MODES)} (got {crop!r})")
    if fmt not in ("auto",) + FORMATS:
        raise UserError(f"unknown format {fmt!r}; known: auto, {', '.join(FORMATS)}")
    if int(size) != size or size < 8:
        raise UserError(f"size must be an integer >= 8 (got {size})")
    if not enlarge > 0:
        raise UserError(f"enlarge must be > 0 (got {enlarge})")
    if not 0 <= test_frac < 1:
        raise UserError(f"test fraction must be in [0, 1) (got {test_frac})")
    if not 0 <= num_nb <= lay.num_points - 1:
        raise UserError(f"num_nb={num_nb} must be in [0, {lay.num_points - 1}] for layout {lay.name}")
    if lab_dir is not None and len(srcs) > 1:
        raise UserError("--labels-dir works with a single source folder")
    if lab_dir is not None and not lab_dir.is_dir():
        raise UserError(f"{lab_dir}: labels folder not found")
    _check_paths(srcs, out, lab_dir)
    _check_out(out, overwrite)
    return lay


def _scan(srcs: list[Path], out: Path, fmt: str, lab_dir: Path | None, recursive: bool,
          keep: FaceFilter) -> tuple[list[tuple[str, Sample]], dict[str, int]]:
    """(format, sample) for every labelled image found in the sources (nothing read yet), and the
    predicted faces `keep` leaves out (reason -> count)."""
    found: list[tuple[str, Sample]] = []
    formats = set()
    for src in srcs:
        f, samples = load_source(src, fmt, lab_dir, recursive, exclude=[out], keep=keep)
        formats.add(f)
        found.extend((f, s) for s in samples)
    if keep.active and "jsonl" not in formats:
        raise UserError("--min-conf / --reliable-only filter the faces of predictions (JSONL from "
                        f"`pipnet106 predict`); {', '.join(map(str, srcs))} holds none")
    if not found:
        raise UserError(f"no images or labels found in {', '.join(map(str, srcs))}")
    filtered = dict(Counter(s.filtered for _, s in found if s.filtered))
    kept = [(f, s) for f, s in found if not s.filtered]
    if not kept:
        raise UserError(f"every face in {', '.join(map(str, srcs))} was filtered out "
                        f"({_counts_text(filtered)})")
    return kept, filtered


def _given_split(samples: list[Sample], train_names, test_names, verbose: bool) -> dict[int, str]:
    """Sample index -> 'train' / 'test' / 'unused' from given lists (empty: random split later).

    Decided before any work, so unused samples cost nothing.
    """
    if train_names is None and test_names is None:
        return {}
    train_idx = _match(samples, read_names(train_names), "train", verbose) if train_names is not None else None
    test_idx = _match(samples, read_names(test_names), "test", verbose) if test_names is not None else None
    if train_idx is not None and test_idx is not None:
        both = sorted(train_idx & test_idx)
        if both:
            raise UserError(f"{len(both)} sample(s) are in both the train and test lists, e.g. {samples[both[0]].key}")
    split: dict[int, str] = {}
    for i in range(len(samples)):
        if test_idx is not None and i in test_idx:
            split[i] = "test"
        elif train_idx is not None and i in train_idx:
            split[i] = "train"
        elif train_idx is None:
            split[i] = "train"
        elif test_idx is None:
            split[i] = "test"
        else:
            split[i] = "unused"
    return split


def _crop_all(found: list[tuple[str, Sample]], todo: list[int], staging: Path, *, num_points: int, size: int,
              crop: str, enlarge: float, conv: Conversion | None, fill_from: str | Path | None, workers: int, progress: bool, verbose: bool,
              summary: PrepareSummary) -> list[dict]:
    """Check and crop every sample into `staging` -> the good ones (bad ones go to `summary.skipped`)."""
    jobs = []
    for i in todo:
        f, s = found[i]
        ext = _crop_ext(s.image) if s.image else ".png"
        jobs.append(_Job(i, s, f, num_points, size, crop, enlarge, str(staging / f"{i:08d}{ext}"),
                         *((conv.src, conv.dst, str(fill_from or "")) if conv is not None else ())))
    staged_of = {j.index: j.staged for j in jobs}
    good: list[dict] = []
    used: set[str] = set()
    for res in _run_jobs(jobs, workers, progress):
        s = found[res["index"]][1]
        if not res["ok"]:
            summary.skipped.append({"path": res["path"], "reason": res["reason"], "detail": res["detail"]})
            if verbose:
                tqdm.write(f"skip {res['path']}: {res['reason']}" + (f" ({res['detail']})" if res["detail"] else ""))
            continue
        staged = Path(staged_of[res["index"]])
        name = _unique_stem(s.image.stem, used) + staged.suffix
        good.append({**res, "name": name, "staged": staged, "sample": s})
    return good


def _split(good: list[dict], given_split: dict[int, str], test_frac: float, seed: int) -> tuple[list, list]:
    """Mark each good sample 'train' or 'test' (given lists, else a seeded random split) -> (train, test)."""
    if given_split:
        for g in good:
            g["split"] = given_split[g["index"]]
    else:
        n = len(good)
        n_test = int(round(test_frac * n))
        if test_frac > 0 and n > 1:
            n_test = min(max(n_test, 1), n - 1)
        order = np.random.default_rng(seed).permutation(n)
        test_set = set(order[:n_test].tolist())
        for k, g in enumerate(good):
            g["split"] = "test" if k in test_set else "train"
    train = [g for g in good if g["split"] == "train"]
    test = [g for g in good if g["split"] == "test"]
    if not train:
        raise UserError("the train split is empty; check --train-list / --test-list")
    return train, test


def _write(out: Path, good: list[dict], train: list[dict], test: list[dict], meanface: np.ndarray,
           settings: dict, skipped: list[dict], overwrite: bool) -> None:
    """Commit: images, then lists and mean face, manifest last (so a half-written folder has none)."""
    old_images = _load_manifest_images(out) if overwrite else set()
    (out / "images").mkdir(exist_ok=True)
    for g in good:
        os.replace(g["staged"], out / "images" / g["name"])
    new_images = {f"images/{g['name']}" for g in good}
    for rel in sorted(old_images - new_images):
        p = out / rel
        if p.is_file():
            p.unlink()
    write_list(out / "train.txt", [(f"images/{g['name']}", g["points"]) for g in train])
    write_list(out / "test.txt", [(f"images/{g['name']}", g["points"]) for g in test])
    save_meanface(out / "meanface.txt", meanface)
    manifest = {
        "version": __version__,
        **settings,
        "samples": [{
            "image": f"images/{g['name']}",
            "source": os.path.abspath(g["sample"].image),
            "label": g["sample"].where or (os.path.abspath(g["sample"].label) if g["sample"].label else None),
            "source_size": g["source_size"],
            "transform": g["transform"],
            "split": g["split"],
        } for g in good],
        "skipped": skipped,
    }
    atomic_write_json(out / "manifest.json", manifest)


def _reason_text(summary: PrepareSummary) -> str:
    return _counts_text(summary.reasons)


def _counts_text(counts: dict[str, int]) -> str:
    """'reason: n, ...', most frequent first."""
    return ", ".join(f"{r}: {n}" for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _print_summary(summary: PrepareSummary, verbose: bool, wrote: bool) -> None:
    if not verbose:
        return
    if wrote:
        extra = f", {summary.num_unused} not in the split lists" if summary.num_unused else ""
        print(f"prepared {summary.num_prepared} samples (train {summary.num_train}, test {summary.num_test}{extra}) "
              f"-> {summary.out}")
    if summary.skipped:
        print(f"skipped {summary.num_skipped}: {_reason_text(summary)}")
    else:
        print("skipped 0")
    if summary.filtered:
        print(f"filtered {summary.num_filtered} predicted faces: {_counts_text(summary.filtered)}")




