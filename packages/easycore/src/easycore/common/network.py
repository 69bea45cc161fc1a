"""``easycore.common.network``: ``download_file``, implemented in ``easycore_path``."""

from easycore_path import download_file

__all__ = ["download_file"]
