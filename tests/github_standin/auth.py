"""GitHub App authentication as GitHub checks it: the app's RS256 key pair, the JWT the
/app endpoints take, the user access tokens (`ghu_…`, from the OAuth web flow) that
GET /user and GET /user/installations take, and the installation tokens everything
else takes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.wrappers import Request

from .contract import Operation
from .records import ApiError, TokenRecord, UserTokenRecord

# the operations that act as the signed-in user: only a user access token reaches them
USER_OPERATIONS = frozenset(
    {"users/get-authenticated", "apps/list-installations-for-authenticated-user"}
)


@cache
def key_pair() -> tuple[str, str]:
    """The app's (private, public) PEM keys, one pair per process."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def app_jwt(private_key_pem: str, issuer: int, *, expires_in: int = 540) -> str:
    """A JWT for the /app endpoints, signed as the app signs it."""
    now = int(time.time())
    claims = {"iat": now - 60, "exp": now + expires_in, "iss": str(issuer)}
    return jwt.encode(claims, private_key_pem, algorithm="RS256")


def authenticate(
    request: Request,
    op: Operation,
    *,
    app_id: int,
    public_key_pem: str,
    tokens: Mapping[str, TokenRecord],
    user_tokens: Mapping[str, UserTokenRecord] | None = None,
) -> str:
    """How `request` authenticates for `op` (jwt, token, user or none); ApiError 401 if it
    does not, 403 for an installation token on a user's operation (as GitHub answers)."""
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if op.template.startswith("/app"):
        if scheme.lower() != "bearer" or not credential:
            raise ApiError(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                credential,
                public_key_pem,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise ApiError(401, f"A JSON web token could not be decoded ({exc})") from None
        if str(claims["iss"]) != str(app_id):
            raise ApiError(401, "'Issuer' claim ('iss') must be the app's id")
        if int(claims["exp"]) - int(time.time()) > 600 + 30:
            raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
        return "jwt"
    if op.operation_id == "rate-limit/get" and not header:
        return "none"
    bearer = scheme.lower() in ("token", "bearer")
    if op.operation_id in USER_OPERATIONS:
        user = (user_tokens or {}).get(credential) if bearer else None
        if user is not None and user.expires_at >= datetime.now(UTC):
            return "user"
        if bearer and credential in tokens:
            raise ApiError(403, "Resource not accessible by integration")
        raise ApiError(401, "Requires authentication")
    record = tokens.get(credential) if scheme.lower() in ("token", "bearer") else None
    if record is None or record.expires_at < datetime.now(UTC):
        raise ApiError(401, "Bad credentials")
    return "token"
