"""The subjects service: subject heading / DDC suggestion, thuvien API and Annif-compatible API."""

from services.subjects.app import create_app

__all__ = ["create_app"]
