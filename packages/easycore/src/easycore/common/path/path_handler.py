"""``easycore.common.path.path_handler``: where the reference's "Bases:" lines point."""

from easycore_path import HTTPURLHandler, NativePathHandler, PathHandler, RedirectPathHandler

__all__ = ["HTTPURLHandler", "NativePathHandler", "PathHandler", "RedirectPathHandler"]
