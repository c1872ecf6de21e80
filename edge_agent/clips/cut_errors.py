"""What a cut can fail with: one line saying why. Nothing is left behind when it does."""

from __future__ import annotations


class CutFailed(Exception):
    """The clip could not be cut; the message says why in one line. Nothing is left behind."""


class SegmentUnavailable(CutFailed):
    """A planned segment file is missing or cannot be read."""


class SegmentCorrupt(CutFailed):
    """A planned segment file no longer matches its index row (size or SHA-256)."""


class IncompatibleSegments(CutFailed):
    """The planned segments differ in codec or resolution and cannot share one MP4 track."""
