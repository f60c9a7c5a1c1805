"""FastAPI dependencies of the gateway: the service clients held on app.state."""

from __future__ import annotations

from fastapi import Request

from services.common.client import ServiceClient
from services.common.errors import Problem


def client(request: Request, name: str) -> ServiceClient:
    clients: dict[str, ServiceClient] = request.app.state.clients
    if name not in clients:
        raise Problem(
            503,
            f"Dịch vụ '{name}' chưa được cấu hình trên máy chủ này.",
            f"The '{name}' service is not configured on this server.",
            service=name,
        )
    return clients[name]


def get_client(name: str):
    def dependency(request: Request) -> ServiceClient:
        return client(request, name)

    return dependency
