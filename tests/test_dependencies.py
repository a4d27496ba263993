"""Dependency metadata stays honest: every direct dependency is pinned for `make`, and the floors in
pyproject.toml are exactly what `make test-min` installs (so CI proves the floors)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
LIGHT = {"numpy", "opencv-python-headless", "pillow", "pyyaml", "tqdm", "onnxruntime", "onnx", "pytest"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(v: str) -> tuple[int, ...]:
    parts = [int(x) for x in v.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _floors() -> dict[str, str]:
    """name -> floor version, over the core dependencies and every extra (one floor per name)."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(meta["dependencies"]) + [r for extra in meta["optional-dependencies"].values() for r in extra]
    floors: dict[str, str] = {}
    for req in reqs:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)\s*", req)
        assert m, f"pyproject.toml: {req!r} should be 'name>=floor'"
        name, floor = _norm(m.group(1)), m.group(2)
        assert floors.setdefault(name, floor) == floor, f"{name}: two different floors in pyproject.toml"
    return floors


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[_norm(name)] = version.strip()
    return pins


def test_every_direct_dependency_is_pinned_at_or_above_its_floor():
    floors, pins = _floors(), _pins(ROOT / "constraints.txt")
    mobile = _pins(ROOT / "constraints-mobile.txt")  # the phone runtimes' extras, pinned for `make test-mobile`
    assert set(floors) - set(mobile) == {"numpy", "opencv-python-headless", "pyyaml", "tqdm", "pillow", "torch", "torchvision",
                           "onnxruntime", "onnx", "matplotlib", "pytest", "ray", "pyarrow", "pandas",
                           "mkdocs", "mkdocs-material"}
    assert set(pins) == set(floors) - set(mobile), "constraints.txt must pin exactly the direct dependencies"
    for name, floor in floors.items():
        pin = pins[name] if name in pins else mobile[name]
        assert _version(pin) >= _version(floor), f"{name}: pinned {pin} is below the floor {floor}"


def test_make_test_min_installs_exactly_the_floors_and_no_torch():
    floors, mins = _floors(), _pins(ROOT / "constraints-min.txt")
    assert set(mins) == LIGHT
    for name in LIGHT:
        assert _version(mins[name]) == _version(floors[name]), f"{name}: floor {floors[name]} but test-min installs {mins[name]}"
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "constraints-min.txt" in make and "test-min" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
