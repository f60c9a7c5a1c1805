"""Importers: ``read_<fmt>(path, library_id, **options) -> Iterator[ImportItem]`` per format, and
``read_any`` which picks one by sniffing the content."""

from catalog.importers.base import ImportItem
from catalog.importers.detect import FORMATS, read_any, sniff

__all__ = ["FORMATS", "ImportItem", "read_any", "sniff"]
