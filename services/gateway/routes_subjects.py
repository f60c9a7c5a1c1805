"""Gateway routes for subject suggestion: the thuvien API and the Annif-compatible API.

The lead mounts ``router`` in the gateway and wires :func:`get_subjects_client` (it reads
``request.app.state.clients["subjects"]``). Every route here needs the librarian role when auth is on
(services/common/auth.py); accepted and rejected suggestions sent as feedback go to the audit log.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from services.common.auth import audit, require
from services.common.errors import Problem
from services.gateway.routes_search import PathId
from services.subjects.client import SubjectsClient

router = APIRouter(tags=["subjects"])


def get_subjects_client(request: Request) -> SubjectsClient:
    clients = getattr(request.app.state, "clients", None) or {}
    client = clients.get("subjects")
    if client is None:
        raise Problem(
            503,
            "Dịch vụ gợi ý chủ đề chưa được cấu hình.",
            "The subjects service is not configured.",
            service="subjects",
        )
    return client


# Every subjects route (suggestions, feedback, the Annif API) is a cataloguing tool: librarians and admins.
Guard = require("librarian")
Client = Depends(get_subjects_client)


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise Problem(400, "Thân yêu cầu không phải JSON hợp lệ.", "The request body is not valid JSON.") from None


@router.post("/api/v1/subjects/suggest", dependencies=[Guard])
async def suggest(request: Request, client: SubjectsClient = Client) -> Any:
    return await client.suggest(await _json(request))


@router.post("/api/v1/subjects/suggest-batch", dependencies=[Guard])
async def suggest_batch(request: Request, client: SubjectsClient = Client) -> Any:
    return await client.suggest_batch(await _json(request))


@router.post("/api/v1/subjects/learn", dependencies=[Guard])
async def learn(request: Request, client: SubjectsClient = Client) -> Any:
    payload = await _json(request)
    result = await client.learn(payload)
    await _audit_learn(request, payload)
    return result


async def _audit_learn(request: Request, payload: Any, project: str | None = None) -> None:
    """Accepted and rejected suggestions go to the audit log (who taught the subject models what)."""
    items = payload if isinstance(payload, list) else [payload]
    for item in items[:1000]:
        if not isinstance(item, dict):
            continue
        vocab = str(item.get("vocab") or item.get("project") or project or "")
        await audit(
            request,
            None,
            "subjects.learn",
            target=vocab or None,
            accepted=item.get("accepted") or item.get("subjects") or [],
            rejected=item.get("rejected") or [],
            text=str(item.get("text") or (item.get("document") or {}).get("text") or item.get("title") or "")[:200],
        )


@router.get("/api/v1/subjects/projects", dependencies=[Guard])
async def projects(client: SubjectsClient = Client) -> Any:
    return await client.projects()


# ---- Annif-compatible: forwarded unchanged (form bodies for suggest, JSON for batch/learn) ----
async def _forward(request: Request, client: SubjectsClient, path: str) -> Response:
    body = await request.body()
    headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept-language")}
    resp = await client.annif(request.method, path, params=request.query_params, content=body or None, headers=headers)
    if resp.status_code == 204:
        return Response(status_code=204)
    return JSONResponse(resp.json(), status_code=resp.status_code)


@router.get("/v1/", dependencies=[Guard])
async def annif_info(request: Request, client: SubjectsClient = Client) -> Response:
    return await _forward(request, client, "")


@router.get("/v1/vocabs", dependencies=[Guard])
async def annif_vocabs(request: Request, client: SubjectsClient = Client) -> Response:
    return await _forward(request, client, "vocabs")


@router.get("/v1/projects", dependencies=[Guard])
async def annif_projects(request: Request, client: SubjectsClient = Client) -> Response:
    return await _forward(request, client, "projects")


@router.get("/v1/projects/{project_id}", dependencies=[Guard])
async def annif_project(project_id: PathId, request: Request, client: SubjectsClient = Client) -> Response:
    return await _forward(request, client, f"projects/{project_id}")


@router.post("/v1/projects/{project_id}/{action}", dependencies=[Guard])
async def annif_action(project_id: PathId, action: str, request: Request, client: SubjectsClient = Client) -> Response:
    if action not in ("suggest", "suggest-batch", "learn"):
        raise Problem(404, f"Không có thao tác '{action}'.", f"No such operation '{action}'.")
    response = await _forward(request, client, f"projects/{project_id}/{action}")
    if action == "learn" and response.status_code < 300:
        try:
            payload = json.loads(await request.body() or b"null")
        except ValueError:
            payload = None
        await _audit_learn(request, payload, project_id)
    return response
