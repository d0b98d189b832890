"""Exceptions of the dataset layer: every message is one line naming the bad value and the fix."""

from __future__ import annotations


class DatasetError(Exception):
    """A dataset cannot be loaded: bad name or argument, corrupt or truncated file."""


class DatasetNotFound(DatasetError):
    """The files of a dataset are in none of the places searched, and no download worked."""
