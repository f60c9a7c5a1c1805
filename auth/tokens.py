"""JWTs from a library's identity provider: verified with a shared secret (HS256) or a JWKS (file or URL).

The role comes from a configurable claim (a string, or a list of which the highest known role counts);
library and patron from their claims. A token that does not verify, has expired, names no known role, or
lacks the library a patron or librarian needs, is refused. A JWKS URL is fetched with a timeout and cached;
nothing is fetched at import or test time when a file is configured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from auth.roles import ALL_LIBRARIES, ROLE_NAMES, Principal, Role, parse_role


class TokenError(ValueError):
    """Why a token was refused (said to the caller in the 401)."""


@dataclass(frozen=True)
class JwtConfig:
    secret: str | None = None
    jwks: str | None = None
    """A path to a JWKS JSON file, or an https:// URL."""
    algorithms: tuple[str, ...] = ()
    audience: str | None = None
    issuer: str | None = None
    role_claim: str = "role"
    library_claim: str = "library_id"
    patron_claim: str = "patron_id"
    timeout_s: float = 10.0
    leeway_s: float = 30.0

    @property
    def enabled(self) -> bool:
        return bool(self.secret or self.jwks)


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and value.startswith("eyJ")


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested objects (``realm_access.roles``)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def role_from_claim(value: Any) -> Role:
    values = value if isinstance(value, list) else [value]
    roles = []
    for v in values:
        try:
            roles.append(parse_role(str(v)))
        except ValueError:
            continue
    if not roles:
        raise TokenError(f"the token's role claim names no known role ({', '.join(ROLE_NAMES)})")
    return max(roles)


class JwtVerifier:
    def __init__(self, config: JwtConfig) -> None:
        if not config.enabled:
            raise ValueError("JWT verification needs a shared secret or a JWKS")
        self.config = config
        self._jwks_set: jwt.PyJWKSet | None = None
        self._client: jwt.PyJWKClient | None = None
        if config.jwks:
            if config.jwks.startswith(("https://", "http://")):
                self._client = jwt.PyJWKClient(config.jwks, cache_keys=True, lifespan=300, timeout=config.timeout_s)
            else:
                self._jwks_set = jwt.PyJWKSet.from_dict(json.loads(Path(config.jwks).read_text(encoding="utf-8")))

    def _key(self, token: str) -> tuple[Any, list[str]]:
        cfg = self.config
        header = jwt.get_unverified_header(token)
        alg = header.get("alg", "")
        if cfg.secret and alg.startswith("HS"):
            return cfg.secret, list(cfg.algorithms or ("HS256",))
        asym = list(cfg.algorithms or ("RS256", "ES256", "PS256", "EdDSA"))
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key, asym
        if self._jwks_set is not None:
            kid = header.get("kid")
            keys = self._jwks_set.keys
            if kid is not None:
                try:
                    return self._jwks_set[kid].key, asym
                except KeyError:
                    raise TokenError(f"no key with kid {kid!r} in the JWKS") from None
            if len(keys) == 1:
                return keys[0].key, asym
            raise TokenError("the token names no key (kid) and the JWKS has several")
        raise TokenError(f"tokens signed with {alg or 'no algorithm'} are not accepted here")

    def verify(self, token: str) -> Principal:
        cfg = self.config
        try:
            key, algorithms = self._key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=cfg.audience,
                issuer=cfg.issuer,
                leeway=cfg.leeway_s,
                options={"require": ["exp"], "verify_aud": cfg.audience is not None},
            )
        except TokenError:
            raise
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        role = role_from_claim(_claim(claims, cfg.role_claim))
        library = _claim(claims, cfg.library_claim)
        patron = _claim(claims, cfg.patron_claim)
        library = str(library) if library not in (None, "") else None
        patron = str(patron) if patron not in (None, "") else None
        if role == Role.ADMIN:
            library = library or ALL_LIBRARIES
        elif role >= Role.PATRON and not library:
            raise TokenError(f"a {role.label} token must carry the '{cfg.library_claim}' claim")
        if library == ALL_LIBRARIES and role != Role.ADMIN:
            raise TokenError("only admin tokens may cover every library")
        if role == Role.PATRON and not patron:
            raise TokenError(f"a patron token must carry the '{cfg.patron_claim}' claim")
        subject = str(claims.get("sub") or patron or "?")[:100]
        return Principal(actor=f"jwt:{subject}", role=role, library_id=library, patron_id=patron)
