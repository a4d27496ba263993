"""Atomic writes and safe image reading.

Every file the toolkit writes goes through a temp file in the same folder
followed by `os.replace`, so a kill never leaves half a checkpoint or list.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from .errors import SampleError, UserError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_IMAGE_PIXELS = 250_000_000
"""Images larger than this (a 200-megapixel phone photo fits) are refused from their header, before
decoding: a small file can declare 20000 x 20000 pixels and would take gigabytes to decode."""
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Call `write(fileobj)` on a temp file next to `path`, then rename it into place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise UserError(f"{path}: cannot write ({_why(e, path.parent)})") from None
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):  # disk full, read-only, a folder in the way
            raise UserError(f"{path}: cannot write ({_why(e, path)})") from None
        raise
    return path


class AtomicVideoWriter:
    """`cv2.VideoWriter` into a temp file next to `path`, renamed into place by `close()`.

    Use as a context manager: leaving it by an exception (or a kill) leaves no half-written video
    at `path`; the temp file is removed. The result gets the usual permissions, like every output.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], fourcc: str = "mp4v") -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix or ".mp4",
                                            dir=self.path.parent)
        except OSError as e:
            raise UserError(f"{self.path}: cannot write ({_why(e, self.path.parent)})") from None
        os.close(fd)
        self.writer = cv2.VideoWriter(self.tmp, cv2.VideoWriter_fourcc(*fourcc), float(fps), tuple(size))

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def close(self) -> Path:
        self.writer.release()
        os.chmod(self.tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        self.writer.release()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)

    def __enter__(self) -> "AtomicVideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _why(e: OSError, where: Path) -> str:
    """Short reason of a failed write, e.g. 'permission denied on out/'."""
    what = (e.strerror or type(e).__name__).lower()
    return f"{what} on {e.filename}" if e.filename and str(e.filename) != str(where) else what


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data), "wb")


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text), "w")


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def atomic_write_image(path: str | Path, image: np.ndarray, quality: int = 95) -> Path:
    """Encode with OpenCV by the extension of `path` and write atomically."""
    path = Path(path)
    ext = path.suffix.lower() or ".png"
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise UserError(f"{path}: could not encode image as {ext}")
    return atomic_write_bytes(path, buf.tobytes())


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    import torch

    def _write(f):
        buf = io.BytesIO()
        torch.save(obj, buf)
        f.write(buf.getvalue())

    return atomic_write(path, _write, "wb")


def read_text_file(path: str | Path, what: str = "file") -> str:
    """Read a user's UTF-8 text file (a leading byte-order mark is dropped); a missing or unreadable
    one is a one-line UserError naming it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: {what} expected, found a folder") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: {what} is not UTF-8 text") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read {what} ({e.strerror or e})") from None


_PIL_LOCK = threading.Lock()


def _probe(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, EXIF orientation) from the file header, without decoding the pixels.

    None when Pillow is missing or cannot parse the header (OpenCV may still decode the file).
    Pillow's own decompression-bomb check is switched off here: the size is judged by
    `MAX_IMAGE_PIXELS` in `read_image`, with a message that names the file.
    """
    try:
        from PIL import Image
    except ImportError:
        return None
    with _PIL_LOCK:
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                try:
                    orient = int(im.getexif().get(0x0112, 1))
                except Exception:  # a damaged EXIF block: the pixels may still be fine
                    orient = 1
                return int(w), int(h), orient
        except Exception:
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def _truncated(data: bytes) -> bool:
    """A JPEG or PNG cut short (an interrupted copy or download).

    JPEG: no end-of-image marker after the first top-level start-of-scan (the segments before it,
    EXIF thumbnail included, are skipped by their lengths; inside the scan 0xFF is byte-stuffed, so
    FFD9 there can only be the real end). PNG: the chunks run out before IEND (data after IEND is
    allowed). Caught here, the decoder never prints its own multi-line complaints.
    """
    if data[:2] == b"\xff\xd8":
        i, n = 2, len(data)
        while i + 4 <= n:
            if data[i] != 0xFF:
                return False  # not a layout we understand: let the decoder judge
            marker = data[i + 1]
            if marker == 0xFF:
                i += 1
                continue
            if marker == 0xDA:  # start of scan
                return data.find(b"\xff\xd9", i) < 0
            if marker in (0x01, *range(0xD0, 0xD8)):
                i += 2
                continue
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
        return True
    if data[:8] == b"\x89PNG\r\n\x1a\n":  # walk the chunks (length, type, data, crc) to IEND
        i, n = 8, len(data)
        while i + 8 <= n:
            if data[i + 4:i + 8] == b"IEND":
                return False
            i += 12 + int.from_bytes(data[i:i + 4], "big")
        return True
    return False


_ORIENT = {
    2: lambda im: cv2.flip(im, 1),
    3: lambda im: cv2.rotate(im, cv2.ROTATE_180),
    4: lambda im: cv2.flip(im, 0),
    5: lambda im: cv2.flip(cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE), 1),
    6: lambda im: cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE),
    7: lambda im: cv2.flip(cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE), 1),
    8: lambda im: cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def read_image(path: str | Path, exif: bool = True) -> np.ndarray:
    """Read an image as BGR uint8 (H, W, 3), as a viewer shows it.

    Grayscale, 16-bit, CMYK and 4-channel files become 8-bit BGR; EXIF orientation is
    applied when `exif` is true, so labels drawn on the viewed image line up. Files over
    `MAX_IMAGE_PIXELS` (judged from the header) and truncated JPEG/PNG files are refused
    before decoding. Raises `SampleError` (reason 'unreadable image' / 'missing image') with the path.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SampleError(path, "missing image") from None
    except OSError as e:
        raise SampleError(path, "unreadable image", e.strerror or str(e)) from None
    if not data:
        raise SampleError(path, "unreadable image", "empty file")
    info = _probe(data)
    if info is not None and info[0] * info[1] > MAX_IMAGE_PIXELS:
        raise SampleError(path, "unreadable image", f"{info[0]}x{info[1]} pixels is more than the "
                          f"{MAX_IMAGE_PIXELS // 1_000_000}-megapixel limit; downscale it first")
    if _truncated(data):
        raise SampleError(path, "unreadable image", "truncated file")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise SampleError(path, "unreadable image", "not a decodable image")
    image = to_bgr(image)
    if exif and info is not None:
        orient = info[2]
        if orient in _ORIENT:
            image = _ORIENT[orient](image)
    return np.ascontiguousarray(image)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Any of gray (H, W), (H, W, 1), BGR, BGRA, 16-bit, 0-255 integers or floats -> BGR uint8.

    Floats whose values all lie in [0, 1] are refused rather than guessed at: read as 0-255 they
    would be a black image and a silent wrong answer.
    """
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise UserError(f"image array has {image.shape[2]} channels; expected 1 (gray), 3 (BGR) or 4 (BGRA)")
    if image.dtype == np.uint16:
        image = (image / 257).astype(np.uint8)
    elif image.dtype != np.uint8:
        if image.dtype == bool or not np.issubdtype(image.dtype, np.number):
            raise UserError(f"image array of dtype {image.dtype}; pass uint8 values 0-255")
        if np.issubdtype(image.dtype, np.floating):
            if not np.isfinite(image).all():
                raise UserError("image array has NaN or infinite values")
            if image.size and 0 < image.max() <= 1.0 and image.min() >= 0:
                raise UserError(f"image array of {image.dtype} with values in [0, 1]; pass uint8 0-255, "
                                "e.g. (image * 255).round().astype(np.uint8)")
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def is_image_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTS


def find_images(folder: str | Path, exclude: str | Path | None = None, skip_hidden: bool = False) -> list[Path]:
    """Image files under `folder` (recursive, sorted), leaving out anything under `exclude` (an
    output folder placed inside the input must never be read back as input) and, with
    `skip_hidden`, names starting with '.' (e.g. macOS '._x.jpg' resource forks)."""
    folder = Path(folder)
    skip = Path(exclude).resolve() if exclude is not None else None
    out = []
    for p in folder.rglob("*"):
        if not (p.is_file() and is_image_file(p)):
            continue
        if skip_hidden and any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        if skip is not None and skip in p.resolve().parents:
            continue
        out.append(p)
    return sorted(out)


class JsonlStream:
    """A JSONL output written line by line, so a killed batch job loses at most the item in flight.

    Lines go to ``<path>.part`` (flushed after each record); `finish()` renames it to `path`
    atomically, so a finished file is always whole. `done` holds the records already on disk
    when opened with ``resume=True`` (a finished file is reopened for extension; a torn last
    line from a kill is dropped).
    """

    def __init__(self, path: str | Path, resume: bool = False) -> None:
        self.path = Path(path)
        self.part = self.path.with_name(self.path.name + ".part")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.done: list[dict] = []
        if resume:
            src = self.part if self.part.exists() else self.path if self.path.exists() else None
            if src is not None:
                text = src.read_text(encoding="utf-8")
                keep = text[: text.rfind("\n") + 1]  # a torn last line is lost, not misread
                for n, line in enumerate(keep.splitlines(), 1):
                    if line.strip():
                        try:
                            self.done.append(json.loads(line))
                        except json.JSONDecodeError:
                            raise UserError(f"{src}:{n}: not valid JSON; cannot resume from this file "
                                            "(start again without --resume)") from None
                atomic_write_text(self.part, keep)
        elif self.part.exists():
            self.part.unlink()
        self._f = open(self.part, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._f.write(json.dumps(record) + "\n")
        self._f.flush()

    def close(self) -> None:
        """Stop writing but keep ``.part`` (for an interrupted run that `--resume` continues)."""
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()

    def finish(self) -> Path:
        self.close()
        os.chmod(self.part, 0o666 & ~_UMASK)
        os.replace(self.part, self.path)
        return self.path
