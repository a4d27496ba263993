"""Landmark file formats: one reader and one writer per format.

Formats
-------
- per-image text: ``photo.jpg`` + ``photo.txt`` with one ``x y`` line per point, in source pixels
  (optionally a LaPa-style first line holding the point count). Labels may live in a separate folder
  with the same relative stems. ``photo.pts`` (300-W: ``version``/``n_points`` header, points
  between braces, 1-based pixel coordinates) is read too and moved to the 0-based convention.
- PIPNet list: ``name x1 y1 ... xN yN`` per line, normalized to the crop ([0, 1] covers it).
- LaPa: ``root/images/<stem>.jpg`` + ``root/landmarks/<stem>.txt`` (first line = point count).
- JSONL: one ``{"image": str, "points": [[x, y], ...], "layout": "lapa106", ...}`` record per line.

Readers of a single sample raise `SampleError` with one of a fixed set of reasons (see `REASONS`),
so batch jobs can skip and count; readers of a whole file (list, JSONL) raise `UserError` naming
the file and line. All writers are atomic (`fileio`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import SampleError, UserError
from ..fileio import IMAGE_EXTS, atomic_write_bytes, atomic_write_image, atomic_write_json, atomic_write_text, read_text_file

# Reasons a single labelled sample can be rejected; `prepare` counts skips by these keys.
MISSING_IMAGE = "missing image"
UNREADABLE_IMAGE = "unreadable image"
MISSING_LABEL = "missing label"
WRONG_COUNT = "wrong point count"
NON_NUMERIC = "non-numeric value"
NON_FINITE = "non-finite value"
OUTSIDE = "all points outside image"
AMBIGUOUS = "ambiguous label"
REASONS = (MISSING_IMAGE, UNREADABLE_IMAGE, MISSING_LABEL, WRONG_COUNT, NON_NUMERIC, NON_FINITE, OUTSIDE, AMBIGUOUS)

LABEL_EXT = ".txt"
PTS_EXT = ".pts"
LABEL_EXTS = (LABEL_EXT, PTS_EXT)
FORMATS = ("txt", "lapa", "jsonl")


@dataclass
class Sample:
    """One image/label pair found on disk. Either side may be None so callers can report it.

    `key` is the relative stem (posix, no extension) that paired them. `points` is only set for
    formats that carry the points inline (JSONL), as the raw parsed value; `where` names the
    record (e.g. ``file.jsonl:12``) for messages. `ambiguous` lists the other images that share
    this sample's stem and label (``a.jpg`` and ``a.png`` next to one ``a.txt``): such a label is
    not used for either, since it cannot say which photo it belongs to.
    """

    image: Path | None
    label: Path | None
    key: str
    points: Any = field(default=None, repr=False, compare=False)
    where: str = ""
    ambiguous: tuple[str, ...] = ()
    no_points: str = ""
    """Why an inline-points record has no points (e.g. a prediction without faces), for the message."""
    filtered: str = ""
    """Why a predicted face was left out on purpose (`FaceFilter`); such a sample is counted, not used."""


@dataclass(frozen=True)
class FaceFilter:
    """Which faces of `pipnet106 predict` records become samples (`prepare --min-conf / --reliable-only`).

    Predictions include faces nobody would label by hand (an 18 px face at confidence 0.14);
    training on them teaches the model its own mistakes. Label records (``"points"``) are not
    predictions and always pass.
    """

    min_conf: float = 0.0
    """lowest mean point confidence (the face's ``conf`` list) a face may have"""
    reliable_only: bool = False
    """keep only faces whose ``reliable`` field is true (written by predict: pose, size, confidence)"""

    def __post_init__(self) -> None:
        if not 0 <= self.min_conf <= 1:
            raise UserError(f"min_conf must be in [0, 1] (got {self.min_conf})")

    @property
    def active(self) -> bool:
        return self.min_conf > 0 or self.reliable_only

    def reason(self, face: Any) -> str:
        """Why `face` (a dict of a prediction record) is left out, '' when it is kept."""
        if not isinstance(face, dict):
            return ""  # a malformed face is reported as a bad sample, not filtered
        if self.reliable_only and face.get("reliable") is not True:
            return "not reliable"
        if self.min_conf > 0:
            conf = face.get("conf")
            try:
                mean = float(np.mean(np.asarray(conf, dtype=np.float64))) if conf else float("nan")
            except (TypeError, ValueError):
                mean = float("nan")
            if not mean >= self.min_conf:
                return f"mean confidence < {self.min_conf:g}" if np.isfinite(mean) else "no confidence"
        return ""


# --------------------------------------------------------------------------- discovery

def _walk(root: Path, recursive: bool, exclude: tuple[Path, ...]) -> list[Path]:
    """Regular files under `root`, sorted, skipping hidden names and `exclude`d folders."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames
                             if not n.startswith(".") and (d / n).resolve() not in exclude)
        out.extend(d / n for n in sorted(filenames) if not n.startswith("."))
        if not recursive:
            break
    return out


def _key(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def find_samples(image_dir: str | Path, labels_dir: str | Path | None = None, recursive: bool = True,
                 exclude: Iterable[str | Path] = ()) -> list[Sample]:
    """Pair images with ``.txt`` labels by relative stem.

    Labels are looked up next to the images, or under `labels_dir` with the same relative path.
    Images without a label and labels without an image are returned too (with None on the missing
    side), so `prepare` can report them. Hidden files and `exclude`d folders are not scanned.
    Sorted by key, then image name.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise UserError(f"{image_dir}: not a folder")
    label_root = Path(labels_dir) if labels_dir is not None else image_dir
    if not label_root.is_dir():
        raise UserError(f"{label_root}: labels folder not found")
    excl = tuple(Path(p).resolve() for p in exclude)
    files = _walk(image_dir, recursive, excl)
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTS]
    label_files = files if labels_dir is None else _walk(label_root, recursive, excl)
    labels: dict[str, Path] = {}
    twin_labels: dict[str, Path] = {}
    for p in label_files:
        if p.suffix.lower() in LABEL_EXTS:
            key = _key(p, label_root)
            (twin_labels if key in labels else labels)[key] = p

    by_key: dict[str, list[Path]] = {}
    for img in images:
        by_key.setdefault(_key(img, image_dir), []).append(img)
    samples: list[Sample] = []
    used: set[str] = set()
    for img in images:
        key = _key(img, image_dir)
        label = labels.get(key)
        twins = tuple(p.name for p in by_key[key] if p != img) if label is not None else ()
        if key in twin_labels:
            twins += (twin_labels[key].name,)
        samples.append(Sample(img, label, key, ambiguous=twins))
        used.add(key)
    samples.extend(Sample(None, lab, key) for key, lab in labels.items() if key not in used)
    samples.sort(key=lambda s: (s.key, s.image.name if s.image else ""))
    return samples


def detect_format(src: str | Path) -> str:
    """'jsonl' for a .jsonl file, 'lapa' for a folder with images/ and landmarks/, else 'txt'."""
    p = Path(src)
    if p.is_file():
        if p.suffix.lower() in (".jsonl", ".json"):
            return "jsonl"
        raise UserError(f"{p}: a source must be a folder or a .jsonl file")
    if not p.is_dir():
        raise UserError(f"{p}: source not found")
    if (p / "images").is_dir() and (p / "landmarks").is_dir():
        return "lapa"
    return "txt"


def load_source(src: str | Path, fmt: str = "auto", labels_dir: str | Path | None = None,
                recursive: bool = True, exclude: Iterable[str | Path] = (),
                keep: FaceFilter | None = None) -> tuple[str, list[Sample]]:
    """Discover the samples of one source in any format -> (format, samples); `keep` marks the
    predicted faces of a JSONL source it leaves out (`Sample.filtered`)."""
    fmt = detect_format(src) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; known: auto, {', '.join(FORMATS)}")
    if fmt == "txt":
        return fmt, find_samples(src, labels_dir, recursive, exclude)
    if labels_dir is not None:
        raise UserError(f"--labels-dir only applies to the per-image text format, not {fmt}")
    if fmt == "lapa":
        return fmt, read_lapa(src)
    return fmt, jsonl_samples(src, keep)


def read_sample_points(sample: Sample, fmt: str, num_points: int) -> np.ndarray:
    """(N, 2) pixel points of a discovered sample; raises `SampleError` with a `REASONS` key."""
    if sample.ambiguous:
        labels = [n for n in sample.ambiguous if Path(n).suffix.lower() in LABEL_EXTS]
        if labels:
            raise SampleError(sample.image, AMBIGUOUS, f"labelled twice ({sample.label.name} and "
                              f"{labels[0]}); remove one")
        raise SampleError(sample.image, AMBIGUOUS, f"{sample.label.name} could belong to "
                          f"{' or '.join((sample.image.name, *sample.ambiguous))}; rename one")
    if fmt == "jsonl":
        if sample.no_points:
            raise SampleError(sample.where or sample.label, MISSING_LABEL, sample.no_points)
        return points_from_value(sample.points, num_points, sample.where or sample.label)
    if sample.label is None:
        stem = Path(sample.key).name
        raise SampleError(sample.image, MISSING_LABEL, f"no {' or '.join(stem + e for e in LABEL_EXTS)} found")
    if fmt == "lapa":
        return read_lapa_points(sample.label, num_points)
    if sample.label.suffix.lower() == PTS_EXT:
        return read_points_pts(sample.label, num_points)
    return read_points_txt(sample.label, num_points)


# --------------------------------------------------------------------------- per-image text

def _parse_float(tok: str, path: Path, lineno: int) -> float:
    try:
        return float(tok)
    except ValueError:
        raise SampleError(path, NON_NUMERIC, f"line {lineno}: {tok[:20]!r}") from None


def _read_text(path: Path) -> str:
    try:  # utf-8-sig: a byte-order mark written by Windows editors is not part of the first number
        return path.read_text(encoding="utf-8-sig", errors="replace")
    except FileNotFoundError:
        raise SampleError(path, MISSING_LABEL) from None
    except IsADirectoryError:
        raise SampleError(path, MISSING_LABEL, "is a folder") from None
    except OSError as e:
        raise SampleError(path, MISSING_LABEL, e.strerror or str(e)) from None


def _parse_points(text: str, path: Path, num_points: int, header: bool | None) -> np.ndarray:
    """Parse ``x y`` lines. `header`: True = first line is the count, None = allow it, False = forbid."""
    rows = [(i + 1, ln.replace(",", " ").split()) for i, ln in enumerate(text.splitlines())]
    rows = [(n, toks) for n, toks in rows if toks]
    if header is not False and rows and len(rows[0][1]) == 1:
        n, toks = rows[0]
        declared = _parse_float(toks[0], path, n)
        if header or (declared.is_integer() and int(declared) == len(rows) - 1):
            rows = rows[1:]
    elif header:
        raise SampleError(path, WRONG_COUNT, "first line must hold the point count")
    values: list[float] = []
    for n, toks in rows:
        values.extend(_parse_float(t, path, n) for t in toks)
    if len(rows) == 1 and len(values) == 2 * num_points:
        pass  # all points on one line: "x1 y1 x2 y2 ..."
    else:
        for n, toks in rows:
            if len(toks) != 2:
                raise SampleError(path, WRONG_COUNT, f"line {n} has {len(toks)} values, expected 'x y'")
    pts = np.asarray(values, dtype=np.float64).reshape(-1, 2)
    if len(pts) != num_points:
        raise SampleError(path, WRONG_COUNT, f"got {len(pts)}, expected {num_points}")
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SampleError(path, NON_FINITE, f"line {rows[i][0]}")
    return pts


def read_points_txt(path: str | Path, num_points: int) -> np.ndarray:
    """Read ``x y`` lines (pixels) -> (N, 2) float64.

    A LaPa-style first line holding the point count is accepted. Raises `SampleError` with reason
    'missing label', 'wrong point count' ('got 98, expected 106'), 'non-numeric value' (line
    number) or 'non-finite value' (line number).
    """
    path = Path(path)
    return _parse_points(_read_text(path), path, num_points, header=None)


def read_points_pts(path: str | Path, num_points: int) -> np.ndarray:
    """Read a 300-W ``.pts`` file -> (N, 2) float64 in 0-based pixels.

    The ``version:`` / ``n_points:`` header and the braces are optional (some copies have bare
    ``x y`` lines). 300-W counts pixels from 1 (the top-left pixel's centre is (1, 1)), this
    package from 0, so 1 is subtracted. Errors as `read_points_txt`.
    """
    path = Path(path)
    text = _read_text(path)
    lines = text.splitlines()
    body = [ln if not (ln.strip().lower().startswith(("version", "n_points")) or ln.strip() in ("{", "}")) else ""
            for ln in lines]   # blanked, not dropped: error messages keep the file's line numbers
    return _parse_points("\n".join(body), path, num_points, header=False) - 1.0


def _points_text(points: np.ndarray, header: bool) -> str:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    lines = [str(len(pts))] if header else []
    lines += [f"{x:.6f} {y:.6f}" for x, y in pts]
    return "\n".join(lines) + "\n"


def write_points_txt(path: str | Path, points: np.ndarray) -> Path:
    """Write (N, 2) pixel points as ``x y`` lines, atomically."""
    return atomic_write_text(path, _points_text(points, header=False))


# --------------------------------------------------------------------------- PIPNet list

def read_list(path: str | Path, num_points: int) -> list[tuple[str, np.ndarray]]:
    """Read a PIPNet list file -> [(name, (N, 2) normalized points)].

    Names may contain spaces (the last 2N fields are the numbers). Blank lines and ``#`` comments
    are ignored. A missing point is written ``nan nan`` and comes back as a NaN row (training masks
    it); any other non-finite value, or half a NaN pair, raises `UserError` naming the file and line.
    """
    path = Path(path)
    text = read_text_file(path, "list file")
    out: list[tuple[str, np.ndarray]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.strip().rsplit(None, 2 * num_points)
        numbers = _trailing_numbers(line.split())
        if len(parts) != 2 * num_points + 1 or numbers > 2 * num_points:
            hint = f" ({numbers // 2} points: a dataset of another layout?)" if numbers > 2 * num_points else ""
            raise UserError(f"{path}:{n}: expected a name and {2 * num_points} numbers ({num_points} points), "
                            f"got {numbers if hint else len(line.split())} {'numbers' if hint else 'fields'}{hint}")
        try:
            pts = np.array(parts[1:], dtype=np.float64).reshape(num_points, 2)
        except ValueError:
            raise UserError(f"{path}:{n}: non-numeric value") from None
        missing = np.isnan(pts).all(axis=1)  # "nan nan": a point not labelled in this sample
        if not (np.isfinite(pts).all(axis=1) | missing).all():
            raise UserError(f"{path}:{n}: non-finite value")
        out.append((parts[0], pts))
    return out


def _trailing_numbers(tokens: list[str]) -> int:
    """How many tokens at the end of a list line parse as numbers (image names end in an extension)."""
    count = 0
    for tok in reversed(tokens):
        try:
            float(tok)
        except ValueError:
            break
        count += 1
    return count


def write_list(path: str | Path, entries: Iterable[tuple[str, np.ndarray]]) -> Path:
    """Write [(name, (N, 2) normalized points)] as a PIPNet list file, atomically."""
    lines = []
    for name, pts in entries:
        if not name or "\n" in name or name != name.strip():
            raise UserError(f"{path}: bad sample name {name!r} for a list file")
        vals = np.asarray(pts, dtype=np.float64).reshape(-1)
        lines.append(name + " " + " ".join(f"{v:.6f}" for v in vals))
    return atomic_write_text(path, "".join(ln + "\n" for ln in lines))


def read_names(path_or_names: str | Path | Iterable[str]) -> list[str]:
    """Sample names from a list of names, or from a file (first field per line: a PIPNet list or plain names)."""
    if isinstance(path_or_names, (str, Path)):
        text = read_text_file(path_or_names, "split list")
        return [ln.split()[0] for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return [str(n) for n in path_or_names]


# --------------------------------------------------------------------------- LaPa

def read_lapa(root: str | Path) -> list[Sample]:
    """Pairs of ``root/images/<stem>.<ext>`` and ``root/landmarks/<stem>.txt``; read points with `read_lapa_points`."""
    root = Path(root)
    if not (root / "images").is_dir() or not (root / "landmarks").is_dir():
        raise UserError(f"{root}: a LaPa folder needs images/ and landmarks/ subfolders")
    return find_samples(root / "images", root / "landmarks")


def read_lapa_points(path: str | Path, num_points: int) -> np.ndarray:
    """LaPa landmark file: first line the point count, then ``x y`` lines (pixels)."""
    path = Path(path)
    return _parse_points(_read_text(path), path, num_points, header=True)


def write_lapa(root: str | Path, name: str, image: str | Path | np.ndarray,
               points: np.ndarray) -> tuple[Path, Path]:
    """Add one sample to a LaPa folder -> (image path, landmark path).

    `image` is a file (copied byte for byte, extension kept) or a BGR array (written as JPEG).
    """
    root = Path(root)
    if isinstance(image, np.ndarray):
        img_path = atomic_write_image(root / "images" / f"{name}.jpg", image)
    else:
        src = Path(image)
        try:
            data = src.read_bytes()
        except OSError:
            raise UserError(f"{src}: cannot read image") from None
        img_path = atomic_write_bytes(root / "images" / f"{name}{src.suffix.lower()}", data)
    lab_path = atomic_write_text(root / "landmarks" / f"{name}{LABEL_EXT}", _points_text(points, header=True))
    return img_path, lab_path


# --------------------------------------------------------------------------- JSONL / JSON

def make_record(image: str | Path, points: np.ndarray, layout: str = "lapa106", **extra: Any) -> dict:
    """A JSON-ready record: image path, (N, 2) pixel points as lists, layout name, extras."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return {"image": str(image), "points": [[float(x), float(y)] for x, y in pts], "layout": layout, **extra}


def _jsonable(record: dict) -> dict:
    def conv(v):
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, (np.floating, np.integer)):
            return v.item()
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        return v

    return conv(dict(record))


def write_jsonl(path: str | Path, records: Iterable[dict]) -> Path:
    """One compact JSON record per line (numpy arrays become lists), atomically."""
    lines = [json.dumps(_jsonable(r), allow_nan=False) for r in records]
    return atomic_write_text(path, "".join(ln + "\n" for ln in lines))


def read_jsonl(path: str | Path) -> list[dict]:
    """Records of a JSONL file, as parsed (points stay lists; see `points_from_value`).

    A line that is not a JSON object with an "image" string raises `UserError` naming file and line.
    """
    return [rec for _, rec in _read_jsonl_numbered(Path(path))]


def _read_jsonl_numbered(path: Path) -> list[tuple[int, dict]]:
    """(line number, record) pairs; line numbers are kept for messages.

    A ``.json`` file may instead hold one record or a list of them over several lines (what
    `predict` writes for a single image); their "line numbers" are then record numbers.
    """
    text = read_text_file(path, "JSONL file")
    if path.suffix.lower() == ".json" and text.lstrip()[:1] in ("{", "["):
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None  # maybe JSONL after all: read it line by line below
        if whole is not None:
            recs = whole if isinstance(whole, list) else [whole]
            for n, rec in enumerate(recs, 1):
                if not isinstance(rec, dict) or not isinstance(rec.get("image"), str):
                    raise UserError(f"{path}: record {n} must be an object with an \"image\" path")
            return list(enumerate(recs, 1))
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("image"), str):
            raise UserError(f"{path}:{n}: a record must be an object with an \"image\" path")
        out.append((n, rec))
    return out


def write_json(path: str | Path, record: dict) -> Path:
    """One record as a JSON file (same fields as a JSONL line), atomically."""
    return atomic_write_json(path, _jsonable(record))


def read_json(path: str | Path) -> dict:
    path = Path(path)
    try:
        rec = json.loads(read_text_file(path, "JSON file"))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(rec, dict):
        raise UserError(f"{path}: expected a JSON object")
    return rec


def points_from_value(value: Any, num_points: int, where: object) -> np.ndarray:
    """Validate parsed JSON points ([[x, y], ...] or a flat list) -> (N, 2); `SampleError` otherwise."""
    if value is None:
        raise SampleError(where, MISSING_LABEL, "no \"points\" field")
    flat: list[Any] = []
    for v in value if isinstance(value, list) else [value]:
        flat.extend(v if isinstance(v, list) else [v])
    for i, v in enumerate(flat):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            if isinstance(v, str):
                try:
                    float(v)
                except ValueError:
                    raise SampleError(where, NON_NUMERIC, f"point {i // 2}: {v[:20]!r}") from None
                flat[i] = float(v)
            else:
                raise SampleError(where, NON_NUMERIC, f"point {i // 2}: {type(v).__name__}")
    if len(flat) != 2 * num_points:
        raise SampleError(where, WRONG_COUNT, f"got {len(flat) / 2:g}, expected {num_points}")
    pts = np.asarray(flat, dtype=np.float64).reshape(num_points, 2)
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        raise SampleError(where, NON_FINITE, f"point {int(np.flatnonzero(bad)[0])}")
    return pts


def jsonl_samples(path: str | Path, keep: FaceFilter | None = None) -> list[Sample]:
    """Samples of a JSONL file; relative image paths are relative to the file's folder.

    Two record shapes are read: a label ``{"image", "points"}``, and a prediction of
    `pipnet106 predict` ``{"image", "source", "faces": [{"points", ...}, ...]}``, so predictions
    corrected by hand go straight back into `prepare`. Each face of a prediction becomes a sample
    (key ``<stem>`` for the first, ``<stem>_face<k>`` for the others); a prediction with no face
    is reported as a missing label. When the relative image path does not exist next to the
    file, the prediction's absolute ``source`` path is used. A face `keep` leaves out is a sample
    with `Sample.filtered` set (so it can be counted); the others keep their face number.
    """
    path = Path(path)
    out = []
    for lineno, rec in _read_jsonl_numbered(path):
        img = Path(rec["image"])
        if not img.is_absolute():
            img = path.parent / img
        source = rec.get("source")
        if not img.exists() and isinstance(source, str) and Path(source).is_file():
            img = Path(source)
        key, where = Path(rec["image"]).with_suffix("").as_posix(), f"{path}:{lineno}"
        faces = rec.get("faces")
        if "points" in rec or not isinstance(faces, list):
            out.append(Sample(img, path, key, rec.get("points"), where))
            continue
        if not faces:
            out.append(Sample(img, path, key, None, where, no_points="the record has no faces"))
        for k, f in enumerate(faces):
            pts = f.get("points") if isinstance(f, dict) else None
            out.append(Sample(img, path, key if k == 0 else f"{key}_face{k}", pts, f"{where} face {k}",
                              filtered=keep.reason(f) if keep is not None else ""))
    return out
