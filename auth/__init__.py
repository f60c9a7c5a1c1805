"""Who may do what: roles, API keys (stored hashed) and JWTs from a library's identity provider.

No HTTP here: :mod:`services.common.auth` turns these into FastAPI dependencies.
"""

from auth.keys import ApiKey, KeyError_, KeyStore, NewKey, parse_key
from auth.roles import ROLE_NAMES, Principal, Role, parse_role

__all__ = ["ROLE_NAMES", "ApiKey", "KeyError_", "KeyStore", "NewKey", "Principal", "Role", "parse_key", "parse_role"]
