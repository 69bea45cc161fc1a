"""Placeholder: filled in by the easycore-torch issue."""

# SPDX-License-Identifier: MIT

from __future__ import annotations

__version__ = "0.1.0"

__all__: list[str] = []
