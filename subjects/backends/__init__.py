"""Subject backends; importing this package registers them all."""

from subjects.backends import emblinear, ensemble, knn, labelmatch, linear  # noqa: F401
from subjects.backends.base import REGISTRY, Backend, NotTrainedError, get_backend_class

__all__ = ["REGISTRY", "Backend", "NotTrainedError", "get_backend_class"]
