"""The OAuth2 client-credentials token endpoint, built on authlib's authorization server."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import re
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import InsecureTransportError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import scope_to_list
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.auth.secrets import hash_secret, verify_secret
from gateway.auth.tokens import TokenIssuer
from gateway.bodies import read_limited

__all__ = ["MAX_FORM_BYTES", "RegisteredClient", "TokenEndpoint"]

MAX_FORM_BYTES = 8 * 1024
"""A client-credentials request is a few hundred bytes; beyond this the form is not read."""

log = logging.getLogger("govshare.oauth")

_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: +[\x21\x23-\x5b\x5d-\x7e]+)*")
"""RFC 6749, section 3.3: scope tokens are printable ASCII without `"` and `\\`, separated by spaces."""

SECRET_CHECKS = 2
"""Secret checks (scrypt, ~40 ms of CPU each) running at once; more wait, so that a flood of
token requests cannot take the CPU from the data requests."""


@dataclass(frozen=True)
class RegisteredClient(ClientMixin):  # type: ignore[misc]
    client_id: str
    agency: str
    secret_hash: str
    duties: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(self.duties)
        return " ".join(d for d in scope_to_list(scope) if d in self.duties)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_secret(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class _DutyGrant(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: RegisteredClient = self.request.client
        requested = scope_to_list(self.request.payload.scope) or []
        foreign = [d for d in requested if d not in client.duties]
        if foreign:
            raise InvalidScopeError(
                description=f"{', '.join(foreign)} is not a duty of agency {client.agency}; its duties: {', '.join(client.duties)}"
            )


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, method: str, uri: str, headers: Mapping[str, str], form: dict[str, str]) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


@functools.cache
def _unknown_client() -> RegisteredClient:
    # an unknown client_id is checked against a secret nobody knows: the same work and the same
    # answer as a wrong secret, so the endpoint does not tell which client ids exist
    return RegisteredClient("", "", hash_secret(secrets.token_urlsafe(32)), ())


class TokenEndpoint(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, issuer: TokenIssuer, clients: Mapping[str, RegisteredClient]) -> None:
        super().__init__()
        self.issuer = issuer
        # the runtime's registry itself: clients registered later are accepted at once
        self.clients = clients
        self.register_grant(_DutyGrant)
        self.register_token_generator("default", self._generate)
        self._checks = asyncio.Semaphore(SECRET_CHECKS)

    def query_client(self, client_id: str) -> RegisteredClient | None:
        return self.clients.get(client_id) or _unknown_client()

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        # access tokens are self-contained JWTs; nothing to store
        return None

    def _generate(self, grant_type: str, client: RegisteredClient, user: Any = None, scope: str | None = None, expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        duties = scope_to_list(client.get_allowed_scope(scope)) or []
        access_token, lifetime = self.issuer.issue(client_id=client.client_id, agency=client.agency, duties=duties)
        return {"token_type": "Bearer", "access_token": access_token, "expires_in": lifetime, "scope": " ".join(duties)}

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        # `respond` already builds the framework-neutral request from Starlette's
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers=dict(headers or []))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    async def respond(self, request: Request) -> JSONResponse:
        if request.method != "POST":
            return JSONResponse({"error": "invalid_request", "error_description": "use POST"}, status_code=405)
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != "application/x-www-form-urlencoded":
            return JSONResponse(
                {"error": "invalid_request", "error_description": "send the form as application/x-www-form-urlencoded"},
                status_code=400,
            )
        body = await read_limited(request, MAX_FORM_BYTES)
        if body is None:
            return JSONResponse(
                {"error": "invalid_request", "error_description": f"the token request is larger than {MAX_FORM_BYTES // 1024} kB"},
                status_code=413,
            )
        pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        repeated = sorted(name for name, count in Counter(name for name, _ in pairs).items() if count > 1)
        if repeated:
            return JSONResponse(
                {"error": "invalid_request", "error_description": f"{', '.join(repeated)} given more than once (RFC 6749, section 3.2)"},
                status_code=400,
            )
        form = dict(pairs)
        problem = _form_problem(request.headers.get("authorization", ""), form)
        if problem is not None:
            return JSONResponse({"error": problem[0], "error_description": problem[1]}, status_code=problem[2])
        try:
            oauth_request = _Request(request.method, str(request.url), request.headers, form)
        except InsecureTransportError:
            return JSONResponse(
                {
                    "error": "invalid_request",
                    "error_description": "the token endpoint answers only over HTTPS (or on loopback); behind a TLS proxy, forward X-Forwarded-Proto",
                },
                status_code=400,
            )
        async with self._checks:  # the secret check is scrypt: off the event loop, a few at a time
            try:
                return await asyncio.to_thread(self.create_token_response, oauth_request)  # type: ignore[no-any-return]
            except (ValueError, UnicodeError) as exc:  # input checked above; whatever else authlib refuses is still the client's
                log.warning("token request refused by authlib: %s: %s", type(exc).__name__, exc)
                return JSONResponse({"error": "invalid_request", "error_description": "the token request could not be read"}, status_code=400)


def _form_problem(authorization: str, form: Mapping[str, str]) -> tuple[str, str, int] | None:
    """What is wrong with a token request before authlib reads it: (error, description, status).

    Descriptions never repeat the client's input: RFC 6749 allows only printable ASCII in them.
    """
    parts = authorization.split(None, 1)  # as authlib splits it: any whitespace
    scheme, credentials = (parts[0], parts[1]) if len(parts) == 2 else (authorization.strip(), "")
    basic = scheme.lower() == "basic"
    if basic:
        try:
            client_id, sep, _ = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "invalid_client", "the Basic credentials are not base64 of UTF-8 client_id:client_secret", 401
        if not sep:
            return "invalid_client", "the Basic credentials must be client_id:client_secret", 401
        if "client_secret" in form or ("client_id" in form and form["client_id"] != client_id):
            return "invalid_request", "authenticate the client one way only: HTTP Basic or client_id/client_secret in the form (RFC 6749, section 2.3)", 400
    scope = form.get("scope", "").strip(" ")
    if scope and not _SCOPE.fullmatch(scope):
        return "invalid_scope", "scope must be duty codes separated by spaces, in printable ASCII without quotes or backslashes (RFC 6749, section 3.3)", 400
    if any("\ufffd" in value for value in form.values()):
        return "invalid_request", "the form must be UTF-8, percent-encoded", 400
    return None
