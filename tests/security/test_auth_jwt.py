"""JWTs from a library's identity provider: HS256 with a shared secret, RS256 with a JWKS file holding a
locally generated RSA key (no network), role from a configurable claim; and through the gateway."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from auth.roles import Role
from auth.tokens import JwtConfig, JwtVerifier, TokenError
from services.common.settings import Settings
from services.gateway.app import create_app

SECRET = "a-shared-secret-of-at-least-32-bytes!!"


@pytest.fixture(scope="module")
def rsa_keys(tmp_path_factory):
    """A fresh RSA key pair; its public half as a JWKS file (kid "k1"), and a second unrelated key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return key, stranger, path


def token(key, claims: dict, alg: str = "HS256", kid: str | None = None, exp_in: float = 300) -> str:
    payload = {"sub": "u-1", "exp": int(time.time() + exp_in), **claims}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid} if kid else None)


def test_hs256_roles_and_claims():
    v = JwtVerifier(JwtConfig(secret=SECRET))
    p = v.verify(token(SECRET, {"role": "librarian", "library_id": "tv-bacgiang"}))
    assert (p.role, p.library_id, p.actor) == (Role.LIBRARIAN, "tv-bacgiang", "jwt:u-1")
    p = v.verify(token(SECRET, {"role": "patron", "library_id": "tv-bacgiang", "patron_id": "P0001"}))
    assert p.role == Role.PATRON and p.may_read_patron("P0001") and not p.may_read_patron("P0002")
    assert v.verify(token(SECRET, {"role": "admin"})).library_id == "*"
    # refused: wrong secret, expired, no exp, unknown role, missing library or patron, alg "none"
    for bad, why in (
        (token("another-secret-another-secret-123456", {"role": "admin"}), "Signature"),
        (token(SECRET, {"role": "admin"}, exp_in=-3600), "expired"),
        (jwt.encode({"role": "admin"}, SECRET, algorithm="HS256"), "exp"),
        (token(SECRET, {"role": "superuser"}), "no known role"),
        (token(SECRET, {"role": "librarian"}), "library_id"),
        (token(SECRET, {"role": "patron", "library_id": "tv-a"}), "patron_id"),
        (token(SECRET, {"role": "librarian", "library_id": "*"}), "only admin"),
        (jwt.encode({"role": "admin", "exp": int(time.time()) + 60}, None, algorithm="none"), "not accepted"),
    ):
        with pytest.raises(TokenError, match=why):
            v.verify(bad)


def test_configurable_claims_nested_role_list_audience_issuer():
    cfg = JwtConfig(
        secret=SECRET,
        role_claim="realm_access.roles",
        library_claim="lib",
        patron_claim="card",
        audience="thuvien",
        issuer="https://id.thuvien.example.vn",
    )
    v = JwtVerifier(cfg)
    claims = {
        "realm_access": {"roles": ["offline_access", "patron", "librarian"]},
        "lib": "tv-a",
        "aud": "thuvien",
        "iss": "https://id.thuvien.example.vn",
    }
    p = v.verify(token(SECRET, claims))
    assert p.role == Role.LIBRARIAN and p.library_id == "tv-a"  # the highest known role in the list
    with pytest.raises(TokenError, match="(?i)audience"):
        v.verify(token(SECRET, {**claims, "aud": "someone-else"}))
    with pytest.raises(TokenError, match="(?i)issuer"):
        v.verify(token(SECRET, {**claims, "iss": "https://evil.example"}))


def test_rs256_with_a_local_jwks_file(rsa_keys):
    key, stranger, path = rsa_keys
    v = JwtVerifier(JwtConfig(jwks=str(path)))
    p = v.verify(token(key, {"role": "librarian", "library_id": "tv-a"}, alg="RS256", kid="k1"))
    assert p.role == Role.LIBRARIAN
    # one key in the set: a token without kid still verifies with it
    assert v.verify(token(key, {"role": "admin"}, alg="RS256")).role == Role.ADMIN
    with pytest.raises(TokenError, match="Signature"):
        v.verify(token(stranger, {"role": "admin"}, alg="RS256", kid="k1"))
    with pytest.raises(TokenError, match="kid"):
        v.verify(token(key, {"role": "admin"}, alg="RS256", kid="k2"))
    # an HS256 token signed with the public key's text (algorithm confusion) is refused: no secret configured
    with pytest.raises(TokenError):
        v.verify(token("k1" * 20, {"role": "admin"}))


def test_gateway_accepts_jwts_and_enforces_their_roles(rsa_keys, tmp_path):
    key, stranger, path = rsa_keys
    settings = Settings(
        data_dir=tmp_path,
        auth_enabled=True,
        auth_jwt_jwks=str(path),
        auth_jwt_secret=SECRET,
        auth_database_url=f"sqlite:///{tmp_path / 'security.sqlite3'}",
    )
    with TestClient(create_app({}, settings)) as c:
        librarian = token(key, {"role": "librarian", "library_id": "tv-a", "sub": "thu-thu-1"}, "RS256", "k1")
        who = c.get("/api/v1/whoami", headers={"Authorization": f"Bearer {librarian}"}).json()
        assert who["actor"] == "jwt:thu-thu-1" and who["role"] == "librarian" and who["library_id"] == "tv-a"
        admin = token(SECRET, {"role": "admin"})
        assert c.get("/api/v1/audit", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
        r = c.get("/api/v1/audit", headers={"Authorization": f"Bearer {librarian}"})
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
        forged = token(stranger, {"role": "admin"}, "RS256", "k1")
        r = c.get("/api/v1/audit", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401 and "www-authenticate" in r.headers
    # no JWT configured: tokens are refused with a reason, keys still work
    with TestClient(create_app({}, Settings(data_dir=tmp_path, auth_enabled=True))) as c:
        r = c.get("/api/v1/whoami", headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 401 and "JWT" in r.json()["detail"]
