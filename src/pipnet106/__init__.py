"""pipnet106: 106-point facial landmarks with PIPNet."""
from .layout import LAYOUTS, Layout, get_layout

__version__ = "0.1.0"
__all__ = ["Layout", "LAYOUTS", "get_layout", "__version__"]
