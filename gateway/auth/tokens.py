"""JWT access tokens: issued with the gateway's ES256 key, verified with an allow-list of algorithms."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from joserfc.jwt import JWTClaimsRegistry

from schema.context import Principal

__all__ = ["AuthError", "TokenIssuer", "TokenVerifier", "ALLOWED_ALGORITHMS", "generate_signing_key"]

ALLOWED_ALGORITHMS = ("ES256", "EdDSA")


class AuthError(Exception):
    """The request's credentials are missing or not acceptable; the message says why."""


def generate_signing_key() -> ECKey:
    key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": "ES256"}, auto_kid=True)
    return key


@dataclass
class TokenIssuer:
    key: ECKey
    issuer: str
    audience: str
    lifetime: int = 900

    def issue(self, *, client_id: str, agency: str, duties: Sequence[str], now: float | None = None) -> tuple[str, int]:
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": client_id,
            "agency": agency,
            "duties": list(duties),
            "scope": " ".join(duties),
            "iat": issued,
            "nbf": issued,
            "exp": issued + self.lifetime,
            "jti": str(uuid.uuid4()),
        }
        header = {"alg": "ES256", "kid": self.key.kid, "typ": "at+jwt"}
        return jwt.encode(header, claims, self.key, algorithms=["ES256"]), self.lifetime


def public_jwks(keys: Sequence[ECKey]) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


class TokenVerifier:
    """Checks signature (allow-listed algorithms only), issuer, audience, expiry and not-before."""

    def __init__(self, keys: KeySet, issuer: str, audience: str, leeway: int = 30) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.registry = JWTClaimsRegistry(
            leeway=leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
        )

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any], issuer: str, audience: str) -> TokenVerifier:
        return cls(KeySet.import_key_set(dict(jwks)), issuer, audience)

    def verify(self, token: str) -> Principal:
        header = _header(token)
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise AuthError(f"token algorithm {alg!r} is not accepted; use one of {', '.join(ALLOWED_ALGORITHMS)}")
        try:
            decoded = jwt.decode(token, self.keys, algorithms=list(ALLOWED_ALGORITHMS))
        except JoseError as exc:
            raise AuthError(f"token signature is not valid ({exc.error})") from None
        except ValueError:
            raise AuthError("token is malformed") from None
        try:
            self.registry.validate(decoded.claims)
        except JoseError as exc:
            raise AuthError(f"token claims rejected: {exc.description or exc.error}") from None
        claims = decoded.claims
        if "nbf" in claims and claims["nbf"] > time.time() + self.leeway:
            raise AuthError("token is not valid yet (nbf)")
        agency = claims.get("agency")
        duties = claims.get("duties")
        if duties is None and isinstance(claims.get("scope"), str):
            duties = claims["scope"].split()
        if not isinstance(agency, str) or not isinstance(duties, list):
            raise AuthError("token lacks the agency and duties claims")
        return Principal(agency=agency, client_id=str(claims["sub"]), duties=frozenset(str(d) for d in duties), token_id=claims.get("jti"))


def _header(token: str) -> dict[str, Any]:
    import base64

    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("token is not a compact JWS (three dot-separated parts)")
    try:
        raw = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4))
        header = json.loads(raw)
    except (ValueError, json.JSONDecodeError):
        raise AuthError("token header is not valid base64url JSON") from None
    if not isinstance(header, dict):
        raise AuthError("token header is not a JSON object")
    return header
