"""pipnet106: 106-point facial landmarks with PIPNet.

    from pipnet106 import Landmarker
    faces = Landmarker.default().predict("photo.jpg")

`Landmarker` and `Face` are imported on first use (module `__getattr__`), so
`import pipnet106` and `pipnet106 --help` stay fast and pull in neither OpenCV
nor onnxruntime, and the ONNX path never imports torch.
"""
from .layout import LAYOUTS, Layout, get_layout

__version__ = "0.1.0"
__all__ = ["Face", "Landmarker", "Layout", "LAYOUTS", "get_layout", "__version__"]

_LAZY = {"Face": "infer.landmarker", "Landmarker": "infer.landmarker"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
