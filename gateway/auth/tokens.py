"""JWT access tokens: issued with the gateway's ES256 key, verified with an allow-list of algorithms."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from joserfc.jwt import JWTClaimsRegistry

from schema.context import Principal

__all__ = ["ALLOWED_ALGORITHMS", "AuthError", "TokenIssuer", "TokenVerifier", "generate_signing_key", "load_jwks", "public_jwks"]

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
    """Checks signature (allow-listed algorithms only), issuer, audience, expiry and not-before.

    Tokens of the gateway's own issuer are checked with its keys; a deployment with its own
    identity provider adds that issuer with its JWKS.
    """

    def __init__(self, keys: KeySet, issuer: str, audience: str, leeway: int = 30, cache_size: int = 10_000) -> None:
        self.audience = audience
        self.leeway = leeway
        self.issuer = issuer
        self.trusted: dict[str, KeySet] = {issuer: keys}
        # the agencies each external issuer may speak for; the gateway's own tokens name the
        # agency of the registered client they were issued to
        self.speaks_for: dict[str, frozenset[str]] = {}
        # a token verified once is good until it expires; its signature is not checked again
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._cache_size = cache_size

    def trust(self, issuer: str, jwks: Mapping[str, Any], agencies: Collection[str]) -> None:
        """Accepts tokens of `issuer` signed with a key of `jwks`, for the given `agencies` only:
        an identity provider that may sign for any agency could make anyone the platform operator."""
        if issuer == self.issuer:
            raise ValueError(f"{issuer} is the gateway's own issuer; an external identity provider needs an issuer of its own")
        if not agencies:
            raise ValueError(f"name the agencies whose tokens issuer {issuer} may sign")
        try:
            self.trusted[issuer] = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"the JWKS of issuer {issuer} is not a valid key set: {exc}") from None
        self.speaks_for[issuer] = frozenset(agencies)

    def _registry(self, issuer: str) -> JWTClaimsRegistry:
        return JWTClaimsRegistry(
            leeway=self.leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
            sub={"essential": True},
        )

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires = cached
            if time.time() < expires:
                return principal
            del self._verified[token]
        principal, expires = self._verify(token)
        self._verified[token] = (principal, expires)
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        header, claims = _unverified(token)
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise AuthError(f"token algorithm {alg!r} is not accepted; use one of {', '.join(ALLOWED_ALGORITHMS)}")
        issuer = claims.get("iss")
        keys = self.trusted.get(issuer) if isinstance(issuer, str) else None
        if keys is None:
            raise AuthError(f"token issuer {issuer!r} is not trusted")
        try:
            decoded = jwt.decode(token, keys, algorithms=list(ALLOWED_ALGORITHMS))
        except JoseError as exc:
            raise AuthError(f"token signature is not valid ({exc.error})") from None
        except ValueError:
            raise AuthError("token is malformed") from None
        try:
            self._registry(issuer).validate(decoded.claims)
        except JoseError as exc:
            raise AuthError(f"token claims rejected: {exc.description or exc.error}") from None
        claims = decoded.claims
        agency = claims.get("agency")
        duties = claims.get("duties")
        if duties is None and isinstance(claims.get("scope"), str):
            duties = claims["scope"].split()
        if not isinstance(agency, str) or not isinstance(duties, list):
            raise AuthError("token lacks the agency and duties claims")
        client_id = str(claims["sub"])
        if issuer != self.issuer:
            if agency not in self.speaks_for.get(issuer, frozenset()):
                raise AuthError(f"issuer {issuer} is not trusted to sign for agency {agency!r}")
            client_id = f"{client_id}@{issuer}"  # never taken for a client registered with the gateway
        principal = Principal(agency=agency, client_id=client_id, duties=frozenset(str(d) for d in duties), token_id=claims.get("jti"))
        return principal, float(claims["exp"]) + self.leeway


MAX_JWKS_BYTES = 1024 * 1024


def load_jwks(source: str) -> dict[str, Any]:
    """A JWKS from a file path or an https URL (plain http is refused: whoever could change
    the keys on the way could sign tokens for the agencies that issuer speaks for)."""
    if source.startswith("http://"):
        raise ValueError(f"{source}: fetch trusted keys over https, or from a file")
    if source.startswith("https://"):
        import httpx

        with httpx.stream("GET", source, timeout=10) as response:
            response.raise_for_status()
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError(f"{source}: the key set is larger than {MAX_JWKS_BYTES // 1024} kB")
        data = json.loads(body)
    else:
        with open(source, encoding="utf-8") as handle:
            data = json.load(handle)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError(f"{source} is not a JWKS document (an object with a 'keys' list)")
    for number, key in enumerate(data["keys"], 1):
        if not isinstance(key, dict):
            raise ValueError(f"{source}: key {number} of 'keys' is not a JSON object (a JWK)")
    return data


def _b64json(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (ValueError, json.JSONDecodeError):
        raise AuthError(f"token {what} is not valid base64url JSON") from None
    if not isinstance(value, dict):
        raise AuthError(f"token {what} is not a JSON object")
    return value


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("token is not a compact JWS (three dot-separated parts)")
    return _b64json(parts[0], "header"), _b64json(parts[1], "payload")
