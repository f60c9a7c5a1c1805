"""Errors leave every service as RFC 9457 ``application/problem+json``.

``detail`` is Vietnamese by default and English when the client asks for it
(``Accept-Language: en``) or when THUVIEN_LANGUAGE=en. Bad input is a 4xx, never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("thuvien.errors")

_TITLES = {
    400: ("Yêu cầu không hợp lệ", "Bad request"),
    401: ("Chưa xác thực", "Unauthorized"),
    403: ("Không có quyền", "Forbidden"),
    404: ("Không tìm thấy", "Not found"),
    405: ("Phương thức không được hỗ trợ", "Method not allowed"),
    409: ("Xung đột", "Conflict"),
    413: ("Dữ liệu quá lớn", "Payload too large"),
    415: ("Định dạng không được hỗ trợ", "Unsupported media type"),
    422: ("Dữ liệu không hợp lệ", "Unprocessable content"),
    429: ("Quá nhiều yêu cầu", "Too many requests"),
    500: ("Lỗi máy chủ", "Internal server error"),
    502: ("Dịch vụ phía sau trả lời sai", "Bad gateway"),
    503: ("Dịch vụ tạm thời không sẵn sàng", "Service unavailable"),
    504: ("Dịch vụ phía sau quá thời gian chờ", "Gateway timeout"),
}


class Problem(Exception):
    """Raise anywhere in a service to answer with problem+json.

    ``vi`` and ``en`` are the two renderings of ``detail``; ``errors`` lists field-level issues
    as ``{"loc": [...], "msg": ...}``.
    """

    def __init__(
        self,
        status: int,
        vi: str,
        en: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(en or vi)
        self.status = status
        self.vi = vi
        self.en = en or vi
        self.errors = errors
        self.type = type_
        self.headers = headers
        self.extra = extra


def wants_english(request: Request) -> bool:
    lang = request.headers.get("accept-language", "")
    return lang.lower().startswith("en") or request.query_params.get("lang") == "en"


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    en = wants_english(request)
    title_vi, title_en = _TITLES.get(problem.status, ("Lỗi", "Error"))
    body: dict[str, Any] = {
        "type": problem.type,
        "title": title_en if en else title_vi,
        "status": problem.status,
        "detail": problem.en if en else problem.vi,
        "instance": request.url.path,
    }
    if problem.errors:
        body["errors"] = problem.errors
    body.update(problem.extra)
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers)


def _validation_problem(exc: RequestValidationError) -> Problem:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        errors.append({"loc": loc, "msg": err.get("msg", ""), "type": err.get("type", "")})
    where = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
    return Problem(422, f"Dữ liệu gửi lên không hợp lệ ({where})", f"Invalid request ({where})", errors=errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(request, _validation_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        vi, en = _TITLES.get(exc.status_code, ("Lỗi", "Error"))
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else None
        return problem_response(
            request,
            Problem(exc.status_code, detail or vi, detail or en, headers=getattr(exc, "headers", None)),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(
            request,
            Problem(
                500,
                "Đã xảy ra lỗi không mong muốn; dữ liệu không bị thay đổi.",
                "An unexpected error occurred; no data was changed.",
            ),
        )
