"""The Starlette application: GraphQL over HTTP, OAuth2 token endpoint, JWKS and health."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hmac
import ipaddress
import json
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from authz.codes import Code
from authz.context import RequestContext, parse_on_behalf_of
from authz.policy import decide_duty
from gateway import metrics
from gateway.audit import disclosure_event
from gateway.auth.oauth import TokenEndpoint
from gateway.auth.tokens import AuthError, public_jwks
from gateway.bodies import read_limited
from gateway.garbage import settle_heap, unsettle_heap
from gateway.ledger import LedgerUnavailable
from gateway.runtime import Runtime
from resolvers.evidence import SnapshotRecord
from schema.build import build_schema, prepared_operations
from schema.context import RequestState

__all__ = ["create_app", "CHINA_TZ"]

log = logging.getLogger("govshare.request")
CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
MAX_BODY_BYTES = 256 * 1024
"""The largest /graphql body read: `persons` with 100 ids is about 3 kB."""
MAX_OPERATION_NAME = 256
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


class GraphQLResponse(JSONResponse):
    """An execution result as JSON, encoded by orjson (a `persons` answer of 100 records in
    about a twentieth of the standard encoder's time); the same document as `JSONResponse`."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # a value orjson does not know: the standard encoder decides
            return super().render(content)


def _error(
    code: Code, message: str, status: int, headers: dict[str, str] | None = None, *, request_id: str | None = None, **extensions: Any
) -> JSONResponse:
    body: dict[str, Any] = {"data": None, "errors": [{"message": message, "extensions": {"code": str(code), **extensions}}]}
    if request_id is not None:  # as in every answer of /graphql: the id to quote to support
        body["extensions"] = {"requestId": request_id}
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(runtime_factory: Callable[[], Awaitable[Runtime]], cors_origins: tuple[str, ...] = ()) -> Starlette:
    """`runtime_factory` opens the runtime at start-up; it is closed at shutdown."""
    holder: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await runtime_factory()
        holder["runtime"] = runtime
        holder["schema"] = build_schema(runtime.bundle)
        # a new catalog version gets a new schema; running requests keep the one they started
        # with, and the old one is freed once they are done (it was frozen with the heap)
        def install_schema(bundle: Any) -> None:
            holder.update(schema=build_schema(bundle))
            unsettle_heap(forget=lambda: prepared_operations(holder["schema"]).clear())

        runtime.catalog_listeners.append(install_schema)
        holder["tokens"] = TokenEndpoint(runtime.issuer, runtime.clients)
        app.state.runtime = runtime
        settle_heap()
        try:
            yield
        finally:
            await runtime.close()

    def runtime() -> Runtime:
        return holder["runtime"]  # type: ignore[no-any-return]

    async def graphql(request: Request) -> Response:
        started = time.perf_counter()
        given = request.headers.get("x-request-id", "")
        request_id = given if 0 < len(given) <= 128 and given.isprintable() else str(uuid.uuid4())
        response = await serve_graphql(request, request_id, started)
        response.headers["X-Request-Id"] = request_id  # refusals and errors too: the id to quote to support
        return response

    async def serve_graphql(request: Request, request_id: str, started: float) -> Response:
        refuse = functools.partial(_error, request_id=request_id)  # every refusal names the request, as the answers do
        if request.method == "GET" and "text/html" in request.headers.get("accept", "") and "query" not in request.query_params:
            return HTMLResponse(get_graphql_ide_html())
        rt = runtime()
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return refuse(Code.UNAUTHENTICATED, "send an access token: Authorization: Bearer <token> (obtain one at POST /oauth/token)", 401, {"WWW-Authenticate": "Bearer"})
        try:
            principal = rt.verifier.verify(token.strip())
        except AuthError as exc:
            return refuse(Code.UNAUTHENTICATED, f"access token rejected: {exc}", 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        query, variables, operation_name, problem = await _read_operation(request)
        if problem is not None:
            return refuse(Code.BAD_REQUEST, *problem)
        duty = request.headers.get("x-duty") or None
        case_id, problem_text = _case_id(request.headers.get("x-case-id"))
        if problem_text is not None:
            return refuse(Code.BAD_REQUEST, problem_text, 400)
        try:
            on_behalf_of = parse_on_behalf_of(request.headers["x-on-behalf-of"]) if request.headers.get("x-on-behalf-of") else ()
        except ValueError as exc:
            return refuse(Code.INVALID_ON_BEHALF_OF, str(exc), 400)
        policy = RequestContext(
            agency=principal.agency,
            duty=duty,
            granted_duties=principal.duties,
            today=dt.datetime.now(CHINA_TZ).date(),
            on_behalf_of=on_behalf_of,
        )
        state = RequestState(
            services=rt,
            principal=principal,
            policy=policy,
            request_id=request_id,
            case_id=case_id,
        )
        if duty is not None:
            refusal = decide_duty(rt.bundle.catalog, policy)
            if refusal is not None:
                state.denied.append(refusal)
                codes = [str(refusal.code)]
                if not await _record(rt, state, query, operation_name, "refused", started):
                    return refuse(*_AUDIT_UNAVAILABLE)
                metrics.observe(state, "refused", time.perf_counter() - started)
                _log(request_id, principal.agency, principal.client_id, duty, [], "refused", started, codes)
                return refuse(refusal.code or Code.FORBIDDEN, f"{refusal.message} ({refusal.article})", 403, article=refusal.article)
        if request.method == "GET" and query and _is_mutation(query, operation_name):
            return refuse(Code.BAD_REQUEST, "mutations must be sent with POST", 405, {"Allow": "POST"})
        try:
            result = await holder["schema"].execute(query, variable_values=variables, context_value=state, operation_name=operation_name)
        except CannotGetOperationTypeError as exc:
            if exc.operation_name is None:
                return refuse(Code.BAD_REQUEST, "the document holds no operation to run; send a query or a mutation", 400)
            return refuse(Code.BAD_REQUEST, f"the document has no operation named {exc.operation_name!r}; 'operationName' must name one of its operations", 400)
        except InvalidOperationTypeError as exc:
            return refuse(Code.BAD_REQUEST, f"{exc.operation_type.value} operations are not served; send a query or a mutation", 400)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [dict(e.formatted) for e in result.errors]
        extensions: dict[str, Any] = {"requestId": request_id}
        sharing = state.sharing_extension()
        if sharing is not None:
            extensions["sharing"] = sharing
        if state.evidence:
            try:
                extensions["snapshot"] = await _store_snapshot(rt, state)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.exception("snapshot could not be stored", extra={"requestId": request_id})
                return refuse(Code.AUDIT_UNAVAILABLE, "the data snapshot could not be stored; nothing was served (R-23b). Retry later.", 503)
        body["extensions"] = extensions
        codes = sorted({str((e.extensions or {}).get("code")) for e in result.errors or []})
        outcome = _outcome(result.data, codes)
        if not await _record(rt, state, query, operation_name, outcome, started, _REFUSALS.intersection(codes)):
            return refuse(*_AUDIT_UNAVAILABLE)
        metrics.observe(state, outcome, time.perf_counter() - started)
        _log(request_id, principal.agency, principal.client_id, duty, sorted(state.fields_requested), outcome, started, codes, len(state.subjects))
        return GraphQLResponse(body)

    async def token(request: Request) -> Response:
        return await holder["tokens"].respond(request)

    async def jwks(request: Request) -> Response:
        rt = runtime()
        keys = public_jwks(rt.signing_keys)["keys"] + rt.evidence.seals.public_jwks()["keys"]
        return JSONResponse({"keys": keys}, headers={"Cache-Control": "public, max-age=300"})

    async def metrics_endpoint(request: Request) -> Response:
        # who uses which duties how often is the operator's evaluation data: served on
        # loopback (a local Prometheus or a proxy's own scrape) or with GOVSHARE_METRICS_TOKEN
        expected = runtime().settings.metrics_token
        if expected:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
                return _error(Code.UNAUTHENTICATED, "send the metrics token: Authorization: Bearer <GOVSHARE_METRICS_TOKEN>", 401, {"WWW-Authenticate": "Bearer"})
        elif request.client is None or not _loopback(request.client.host):
            return _error(Code.FORBIDDEN, "metrics are served on loopback only; set GOVSHARE_METRICS_TOKEN to scrape them from elsewhere", 403)
        return Response(metrics.render(), media_type=metrics.CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        status = await runtime().reachable()
        ready = all(status.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": status}, status_code=200 if ready else 503)

    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "X-Duty", "X-Case-Id", "X-On-Behalf-Of", "X-Request-Id"],
                expose_headers=["X-Request-Id"],
            )
        )
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/oauth/token", token, methods=["POST"]),
            Route("/.well-known/jwks.json", jwks, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing refusals (no such path, method not allowed) in the API's own error form."""
    assert isinstance(exc, HTTPException)
    if request.url.path == "/oauth/token":  # OAuth clients read RFC 6749's error form
        return JSONResponse({"error": "invalid_request", "error_description": "use POST"}, status_code=exc.status_code, headers=dict(exc.headers or {}))
    if exc.status_code == 404:
        return _error(Code.NOT_FOUND, f"no endpoint at {request.url.path}; the API is POST /graphql (GraphiQL: open /graphql in a browser)", 404)
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return _error(Code.BAD_REQUEST, f"{request.method} is not served at {request.url.path}; use {allowed or 'another method'}", 405, dict(exc.headers or {}))
    return _error(Code.BAD_REQUEST, exc.detail, exc.status_code, dict(exc.headers or {}))


async def _store_snapshot(rt: Runtime, state: RequestState) -> dict[str, Any]:
    record = SnapshotRecord(
        id=str(uuid.uuid4()),
        agency=state.principal.agency,
        client=state.principal.client_id,
        duty=state.policy.duty or "",
        case_id=state.case_id,
        request_id=state.request_id,
        created_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
        records=state.evidence,
        signature="",
    )
    record = dataclasses.replace(record, signature=rt.evidence.sign_snapshot(record))
    await rt.snapshots.insert(record)
    return {"id": record.id, "caseId": record.case_id, "records": len(record.records)}


# the codes of a request refused (in part) by the sharing rules or a role, not failed; its
# event records each of them (gateway.audit), which the monitor and the usage report read
_REFUSALS = {str(c) for c in (Code.NOT_IN_SCOPE, Code.OUT_OF_DIVISION, Code.REDISTRIBUTION_BLOCKED, Code.DUTY_REQUIRED, Code.FORBIDDEN)}


def _outcome(data: dict[str, Any] | None, codes: list[str]) -> str:
    if not codes:
        return "ok"
    if data and any(v not in (None, []) for v in data.values()):
        return "partial"
    return "refused" if _REFUSALS & set(codes) else "error"


async def _record(
    rt: Runtime, state: RequestState, query: str, operation_name: str | None, outcome: str, started: float, refusals: set[str] | None = None
) -> bool:
    """Append the operation's ledger event; False when it could not be made durable (fail closed)."""
    if rt.ledger is None:
        return True
    latency = (time.perf_counter() - started) * 1000
    try:
        event = disclosure_event(rt.ledger, state, query=query, operation_name=operation_name, outcome=outcome, latency_ms=latency, refusals=refusals or ())
    except (TypeError, ValueError) as exc:
        # an event the ledger refuses to hold is an event not recorded: nothing is served
        log.error(json.dumps({"event": "audit-unrecordable", "requestId": state.request_id, "reason": str(exc)}))
        return False
    try:
        await rt.ledger.append(event)
    except LedgerUnavailable:
        log.error(json.dumps({"event": "audit-unavailable", "requestId": state.request_id}))
        return False
    return True


MAX_CASE_ID = 128
"""Characters of an X-Case-Id: a business case number, written into the ledger and the snapshot."""


def _case_id(header: str | None) -> tuple[str | None, str | None]:
    """The X-Case-Id header as UTF-8 text (HTTP hands header bytes over as Latin-1), or why not."""
    if not header or not header.strip():
        return None, None
    try:
        text = header.encode("latin-1").decode("utf-8").strip()
    except UnicodeError:
        return None, "X-Case-Id must be UTF-8 text"
    if len(text) > MAX_CASE_ID or not text.isprintable():
        return None, f"X-Case-Id must be a case number of at most {MAX_CASE_ID} printable characters"
    return text, None


_AUDIT_UNAVAILABLE = (Code.AUDIT_UNAVAILABLE, "the disclosure ledger cannot record this request, so nothing is served; retry later", 503)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_mutation(query: str, operation_name: str | None) -> bool:
    """Whether the operation that would run is a mutation (the named one, else the only one)."""
    from graphql import OperationDefinitionNode, OperationType, parse

    try:
        document = parse(query)
    except GraphQLError:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [d for d in operations if d.name is not None and d.name.value == operation_name]
    return len(operations) == 1 and operations[0].operation is OperationType.MUTATION


async def _read_operation(request: Request) -> tuple[str, dict[str, Any] | None, str | None, tuple[str, int] | None]:
    if request.method == "GET":
        params = request.query_params
        repeated = [name for name in ("query", "variables", "operationName") if len(params.getlist(name)) > 1]
        if repeated:
            return "", None, None, (f"{', '.join(repeated)} given more than once; send each parameter once", 400)
        query = params.get("query")
        if not query or not query.strip():
            return "", None, None, ("send the GraphQL document in the 'query' parameter", 400)
        variables = None
        if params.get("variables"):
            try:
                variables = _strict_json(params["variables"])
            except _JsonRefused as exc:
                return "", None, None, (f"'variables' {exc}", 400)
            except ValueError:
                return "", None, None, ("'variables' is not valid JSON", 400)
            except RecursionError:
                return "", None, None, (_TOO_DEEP, 400)
            if not isinstance(variables, dict):
                return "", None, None, ("'variables' must be a JSON object", 400)
            if _lone_surrogates(params["variables"].encode("utf-8", "surrogatepass"), variables):
                return "", None, None, (_SURROGATES, 400)
        operation_name, problem = _operation_name(params.get("operationName"))
        return query, variables, operation_name, problem
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type not in ("application/json", "application/graphql-response+json"):
        return "", None, None, ("POST a JSON body {\"query\": ..., \"variables\": ...} with Content-Type: application/json", 400)
    body = await read_limited(request, MAX_BODY_BYTES)
    if body is None:
        return "", None, None, (f"the request body is larger than {MAX_BODY_BYTES // 1024} kB; send one operation of at most that size", 413)
    try:
        payload = _strict_json(body)
    except _JsonRefused as exc:
        return "", None, None, (f"the request body {exc}", 400)
    except ValueError:  # not JSON, not UTF-8
        return "", None, None, ("the request body is not valid JSON", 400)
    except RecursionError:
        return "", None, None, (_TOO_DEEP, 400)
    if _lone_surrogates(body, payload):
        return "", None, None, (_SURROGATES, 400)
    if isinstance(payload, list):
        return "", None, None, ("batched operations (a JSON array) are not accepted; send one operation per request", 400)
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str) or not payload["query"].strip():
        return "", None, None, ("the JSON body needs a GraphQL document in 'query'", 400)
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return "", None, None, ("'variables' must be a JSON object", 400)
    operation_name, problem = _operation_name(payload.get("operationName"))
    return payload["query"], variables, operation_name, problem


class _JsonRefused(ValueError):
    """Valid to Python's parser, but not JSON an operation may be read from (RFC 8259)."""


def _refuse_constant(name: str) -> None:
    raise _JsonRefused(f"holds {name}, which is not JSON; send numbers as finite values")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        shown = text if len(text) <= 24 else text[:21] + "..."
        raise _JsonRefused(f"holds the number {shown}, beyond the range of a double (about 1.8e308); send a finite value")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _JsonRefused(f"holds the key {twice!r} twice in one object; send each key once")
    return result


def _strict_json(text: str | bytes) -> Any:
    """JSON as RFC 8259 has it: no NaN or Infinity (nor a number that reads as one), no key twice in one object (which one
    would count is undefined), and integers Python reads at all (4,300 digits at most)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys)
    except _JsonRefused:
        raise
    except ValueError as exc:
        if "digits" in str(exc):
            raise _JsonRefused("holds an integer too long to read (over 4,300 digits)") from None
        raise


_TOO_DEEP = "the JSON is nested too deeply; variables are values for the operation's arguments, a few levels deep"
_SURROGATES = "the request holds an unpaired surrogate (a \\ud800-\\udfff escape without its pair); send valid Unicode text"
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _lone_surrogates(raw: bytes, payload: object) -> bool:
    """Whether JSON text `raw`, parsed to `payload`, left an unpaired surrogate in a string:
    it could be neither hashed for the ledger nor stored (an escaped pair is one character)."""
    if not _SURROGATE_ESCAPE.search(raw):
        return False
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _operation_name(value: object) -> tuple[str | None, tuple[str, int] | None]:
    """The operationName given, checked before anything is recorded under it (an empty one is none)."""
    if value is None or value == "":
        return None, None
    if not isinstance(value, str):
        return None, ("'operationName' must be a string naming one of the document's operations", 400)
    if len(value) > MAX_OPERATION_NAME or not _GRAPHQL_NAME.fullmatch(value):
        return None, (f"'operationName' must be a GraphQL name (letters, digits and _, not starting with a digit; at most {MAX_OPERATION_NAME} characters)", 400)
    return value, None


def _log(request_id: str, agency: str, client: str, duty: str | None, fields: list[str], outcome: str, started: float, codes: list[str] | None = None, subjects: int = 0) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    log.info(
        json.dumps(
            {
                "event": "graphql",
                "requestId": request_id,
                "agency": agency,
                "client": client,
                "duty": duty,
                "fields": fields,
                "subjects": subjects,
                "outcome": outcome,
                "codes": codes or [],
                "durationMs": round((time.perf_counter() - started) * 1000, 2),
            },
            ensure_ascii=False,
        )
    )
