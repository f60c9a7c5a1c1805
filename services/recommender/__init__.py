"""The recommender service (FastAPI app factory and its typed client)."""

from services.recommender.app import create_app

__all__ = ["create_app"]
