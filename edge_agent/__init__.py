"""Edge agent: records a site's cameras, cuts evidential clips and sends them to the hub."""

from cctv_common import __version__

__all__ = ["__version__"]
