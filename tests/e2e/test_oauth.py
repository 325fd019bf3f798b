from __future__ import annotations

import asyncio
import base64
import threading
from typing import Any

import httpx


async def test_token_endpoint_grants_requested_duties(client: httpx.AsyncClient, runtime: Any) -> None:
    response = await client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "mz.assistance"}, auth=("gz-mzj", "demo-gz-mzj"))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900 and body["scope"] == "mz.assistance"
    principal = runtime.verifier.verify(body["access_token"])
    assert principal.agency == "gz-mzj" and principal.duties == frozenset({"mz.assistance"})


async def test_no_scope_grants_every_duty_of_the_agency(client: httpx.AsyncClient, runtime: Any) -> None:
    response = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-gab", "demo-gz-gab"))
    assert runtime.verifier.verify(response.json()["access_token"]).duties == frozenset({"gab.household", "gab.public-order"})


async def test_wrong_secret_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-mzj", "demo-gz-rsj"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_unknown_clients_are_answered_as_wrong_secrets(client: httpx.AsyncClient) -> None:
    # the same answer (and the same scrypt work) whether the client id exists or not
    unknown = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-nobody", "x"))
    wrong = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-mzj", "x"))
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


async def test_token_requests_are_bounded_and_unambiguous(client: httpx.AsyncClient) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    huge = await client.post("/oauth/token", content=b"grant_type=client_credentials&pad=" + b"x" * 20_000, headers=form, auth=("gz-mzj", "demo-gz-mzj"))
    assert huge.status_code == 413 and huge.json()["error"] == "invalid_request"
    twice = await client.post("/oauth/token", content=b"grant_type=client_credentials&scope=mz.assistance&scope=mz.marriage", headers=form, auth=("gz-mzj", "demo-gz-mzj"))
    assert twice.status_code == 400 and twice.json()["error"] == "invalid_request" and "scope given more than once" in twice.json()["error_description"]


async def test_secret_checks_run_off_the_event_loop(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # scrypt costs ~40 ms of CPU: on the event loop, a flood of token requests would stall every data request
    import gateway.auth.oauth

    threads: list[threading.Thread] = []
    checked = gateway.auth.oauth.verify_secret

    def recording(secret: str, stored: str) -> bool:
        threads.append(threading.current_thread())
        return checked(secret, stored)

    monkeypatch.setattr(gateway.auth.oauth, "verify_secret", recording)
    responses = await asyncio.gather(*(client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-mzj", "wrong")) for _ in range(4)))
    assert [r.status_code for r in responses] == [401] * 4
    assert len(threads) == 4 and threading.main_thread() not in threads


async def test_duty_of_another_agency_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "gab.household"}, auth=("gz-mzj", "demo-gz-mzj"))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_scope"
    assert "gab.household" in body["error_description"]


async def test_other_grants_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/oauth/token", data={"grant_type": "password", "username": "x", "password": "y"}, auth=("gz-mzj", "demo-gz-mzj"))
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_jwks_serves_the_signing_key(client: httpx.AsyncClient, runtime: Any) -> None:
    response = await client.get("/.well-known/jwks.json")
    keys = {k["kid"]: k for k in response.json()["keys"]}
    token_key = keys[runtime.signing_keys[0].kid]
    assert token_key["alg"] == "ES256" and "d" not in token_key
    seal_keys = [k for kid, k in keys.items() if kid != runtime.signing_keys[0].kid]
    assert {k["kid"].rsplit("-", 1)[0] for k in seal_keys} == {"gz-mzj", "gz-scjgj"}
    assert all(k["alg"] == "EdDSA" and "d" not in k for k in seal_keys)


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert all(ready.json()["checks"].values())


async def test_graphiql_is_served_to_browsers(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_malformed_bodies_get_bad_request(client: httpx.AsyncClient, agent: Any) -> None:
    token = await agent("gz-mzj").token()
    headers = {"Authorization": f"Bearer {token}"}
    bad_json = await client.post("/graphql", content=b"{not json", headers={**headers, "Content-Type": "application/json", "X-Request-Id": "req-bad-json"})
    assert bad_json.status_code == 400 and bad_json.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert bad_json.headers["x-request-id"] == "req-bad-json"  # every answer names its request, refusals too
    assert (await client.post("/graphql", json={"query": "{ catalogVersion }"})).headers["x-request-id"]
    no_query = await client.post("/graphql", json={"variables": {}}, headers=headers)
    assert no_query.status_code == 400
    syntax = await client.post("/graphql", json={"query": "{ person("}, headers=headers)
    assert syntax.status_code == 200 and syntax.json()["errors"][0]["message"].startswith("Syntax Error")
    assert syntax.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    for empty in ("", "   \n"):
        response = await client.post("/graphql", json={"query": empty}, headers=headers)
        assert response.status_code == 400 and response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    two = "query A { agencies { code } } query B { agencies { name } }"
    unnamed = await client.post("/graphql", json={"query": two}, headers=headers)
    assert unnamed.json()["data"] is None and unnamed.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "operationName" in unnamed.json()["errors"][0]["message"]
    unknown = await client.post("/graphql", json={"query": two, "operationName": "C"}, headers=headers)
    assert unknown.status_code == 400 and "no operation named 'C'" in unknown.json()["errors"][0]["message"]
    fragments_only = await client.post("/graphql", json={"query": "fragment F on Agency { code }"}, headers=headers)
    assert fragments_only.status_code == 400 and "no operation to run" in fragments_only.json()["errors"][0]["message"]
    named = await client.post("/graphql", json={"query": two, "operationName": "B"}, headers=headers)
    assert named.status_code == 200 and "errors" not in named.json()
    huge = await client.post("/graphql", json={"query": "{ agencies { code } }", "variables": {"pad": "x" * 300_000}}, headers=headers)
    assert huge.status_code == 413 and "256 kB" in huge.json()["errors"][0]["message"]
    both = 'query Q { agencies { code } } mutation M { withdrawOnwardConsent(id: "00000000-0000-0000-0000-000000000000") { id } }'
    by_get = await client.get("/graphql", params={"query": both, "operationName": "M"}, headers=headers)
    assert by_get.status_code == 405 and by_get.headers["allow"] == "POST" and by_get.json()["errors"][0]["message"] == "mutations must be sent with POST"
    query_by_get = await client.get("/graphql", params={"query": both, "operationName": "Q"}, headers=headers)
    assert query_by_get.status_code == 200 and query_by_get.json()["data"]["agencies"]
    listed = await client.get("/graphql", params={"query": "{ agencies { code } }", "variables": "[1]"}, headers=headers)
    assert listed.status_code == 400 and listed.json()["errors"][0]["message"] == "'variables' must be a JSON object"


async def test_bodies_that_would_break_parsing_or_the_ledger_get_bad_request(client: httpx.AsyncClient, agent: Any, runtime: Any) -> None:
    token = await agent("gz-mzj").token()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    before = await runtime.control.fetchval("SELECT count(*) FROM disclosure_events")
    deep = b'{"query": "{ catalogVersion }", "variables": {"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}"
    response = await client.post("/graphql", content=deep, headers=headers)
    assert response.status_code == 400 and "nested too deeply" in response.json()["errors"][0]["message"]
    deep_get = await client.get("/graphql", params={"query": "{ catalogVersion }", "variables": '{"a": ' + "[" * 5_000 + "]" * 5_000 + "}"}, headers=headers)
    assert deep_get.status_code == 400 and "nested too deeply" in deep_get.json()["errors"][0]["message"]
    for body in (b'{"query": "{ catalogVersion } # \\ud800"}', b'{"query": "query($n: String) { catalogVersion }", "variables": {"n": "\\udfff x"}}'):
        response = await client.post("/graphql", content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST" and "unpaired surrogate" in response.json()["errors"][0]["message"]
    paired = await client.post("/graphql", content=b'{"query": "{ catalogVersion } # \\ud83d\\ude00"}', headers=headers)
    assert paired.status_code == 200 and "errors" not in paired.json()
    assert await runtime.control.fetchval("SELECT count(*) FROM disclosure_events") == before + 1


async def test_json_that_is_not_rfc_8259_gets_bad_request(client: httpx.AsyncClient, agent: Any) -> None:
    token = await agent("gz-mzj").token()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    cases = {
        b'{"query": "{ catalogVersion }", "x": ' + b"1" * 4301 + b"}": "integer too long",
        b'{"query": "{ catalogVersion }", "variables": {"n": NaN}}': "NaN",
        b'{"query": "{ catalogVersion }", "variables": {"n": -Infinity}}': "-Infinity",
        b'{"query": "{ catalogVersion }", "variables": {"n": -1e400}}': "-1e400, beyond the range of a double",
        b'{"query": "{ catalogVersion }", "query": "{ agencies { code } }"}': "the key 'query' twice",
        b'[{"query": "{ catalogVersion }"}]': "batched operations",
    }
    for body, said in cases.items():
        response = await client.post("/graphql", content=body, headers=headers)
        assert response.status_code == 400, (body[:60], response.text)
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_REQUEST" and said in error["message"], error
    twice = await client.get("/graphql?query=%7BcatalogVersion%7D&query=%7Bagencies%7Bcode%7D%7D", headers=headers)
    assert twice.status_code == 400 and "query given more than once" in twice.json()["errors"][0]["message"]
    by_get = await client.get("/graphql", params={"query": "{ catalogVersion }", "variables": '{"a": 1, "a": 2}'}, headers=headers)
    assert by_get.status_code == 400 and "'variables' holds the key 'a' twice" in by_get.json()["errors"][0]["message"]


async def test_variables_that_do_not_fit_their_types_are_the_clients_to_fix(agent: Any) -> None:
    mzj = agent("gz-mzj")
    query = "query($id: ResidentIdNumber!) { person(idNumber: $id) { maritalStatus } }"
    missing = (await mzj.query(query, duty="mz.assistance")).json()
    assert missing["data"] is None
    assert [e["extensions"]["code"] for e in missing["errors"]] == ["BAD_REQUEST"]
    assert "Variable '$id'" in missing["errors"][0]["message"]
    wrong = (await mzj.query("query($n: Int!) { auditEvents(limit: $n) { nextCursor } }", {"n": "many"})).json()
    assert [e["extensions"]["code"] for e in wrong["errors"]] == ["BAD_REQUEST"] and "Int cannot represent" in wrong["errors"][0]["message"]
    invalid = (await mzj.query(query, {"id": "440106199001011234"}, duty="mz.assistance")).json()
    assert [e["extensions"]["code"] for e in invalid["errors"]] == ["INVALID_IDENTIFIER"]


async def test_invalid_operations_say_what_is_wrong(client: httpx.AsyncClient, agent: Any) -> None:
    # an operation that does not fit the schema is the developer's to fix: never masked as INTERNAL
    response = await agent("gz-mzj").query('{ person(idNumber: "440106199001011235") { nickname } }', duty="mz.assistance")
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["GRAPHQL_VALIDATION_FAILED"]
    assert errors[0]["message"].startswith("Cannot query field 'nickname' on type 'Person'.")
    again = await agent("gz-mzj").query('{ person(idNumber: "440106199001011235") { nickname } }', duty="mz.assistance")
    assert again.json()["errors"] == errors


async def test_metrics_count_operations_per_agency(client: httpx.AsyncClient, agent: Any) -> None:
    def value(text: str, prefix: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))

    before = (await client.get("/metrics")).text
    await agent("gz-rsj").query('{ person(idNumber: "440106199001011235") { name maritalStatus } }', duty="rs.insurance")
    after = (await client.get("/metrics")).text
    partial = 'govshare_requests_total{agency="gz-rsj",duty="rs.insurance",outcome="partial"}'
    assert value(after, partial) == value(before, partial) + 1
    denied = 'govshare_denials_total{agency="gz-rsj",code="NOT_IN_SCOPE"}'
    assert value(after, denied) == value(before, denied) + 1
    served = 'govshare_items_served_total{agency="gz-rsj",item="P01",provider="gz-gab"}'
    assert value(after, served) == value(before, served) + 1


async def test_metrics_do_not_take_label_values_from_the_duty_header(client: httpx.AsyncClient, agent: Any) -> None:
    def value(text: str, series: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(series))

    before = (await client.get("/metrics")).text
    invented = [f"made-up-duty-{n}" for n in range(3)]
    for duty in invented:
        response = await agent("gz-rsj").query('{ person(idNumber: "440106199001011235") { name } }', duty=duty)
        assert response.status_code == 403
    after = (await client.get("/metrics")).text
    assert not any(duty in after for duty in invented)
    refused = 'govshare_requests_total{agency="gz-rsj",duty="(not granted)",outcome="refused"}'
    assert value(after, refused) == value(before, refused) + 3


async def test_cors_for_dashboards(demo_settings: Any, demo_databases: Any) -> None:
    from gateway.app import create_app
    from gateway.runtime import Runtime

    app = create_app(lambda: Runtime.start(demo_settings, demo_databases.control_dsn, demo_databases.store_dsns), ("https://dash.gz.gov.cn",))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            allowed = await http.options(
                "/graphql",
                headers={"Origin": "https://dash.gz.gov.cn", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,x-duty"},
            )
            assert allowed.status_code == 200
            assert allowed.headers["access-control-allow-origin"] == "https://dash.gz.gov.cn"
            assert "x-duty" in allowed.headers["access-control-allow-headers"].lower()
            refused = await http.options("/graphql", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
            assert "access-control-allow-origin" not in refused.headers


async def test_token_endpoint_needs_https_off_loopback(runtime_app: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime_app), base_url="http://gateway.internal") as http:
        response = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-mzj", "demo-gz-mzj"))
    assert response.status_code == 400
    assert "HTTPS" in response.json()["error_description"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime_app), base_url="https://gateway.internal") as http:
        secure = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-mzj", "demo-gz-mzj"))
    assert secure.status_code == 200


def test_verified_tokens_are_cached_until_they_expire(runtime: Any) -> None:
    token, _ = runtime.issuer.issue(client_id="gz-mzj", agency="gz-mzj", duties=["mz.marriage"])
    first = runtime.verifier.verify(token)
    assert runtime.verifier.verify(token) is first
    expired, _ = runtime.issuer.issue(client_id="gz-mzj", agency="gz-mzj", duties=["mz.marriage"], now=1_700_000_000)
    import pytest

    from gateway.auth.tokens import AuthError

    for _ in range(2):
        with pytest.raises(AuthError, match="expired"):
            runtime.verifier.verify(expired)


async def test_metrics_are_the_operators_not_everyones(runtime_app: Any, runtime: Any) -> None:
    import dataclasses

    remote = httpx.ASGITransport(app=runtime_app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=remote, base_url="http://gateway.example.gov.cn") as http:
        refused = await http.get("/metrics")
        assert refused.status_code == 403 and "GOVSHARE_METRICS_TOKEN" in refused.json()["errors"][0]["message"]
        settings = runtime.settings
        runtime.settings = dataclasses.replace(settings, metrics_token="scrape-secret-0123456789")
        try:
            assert (await http.get("/metrics")).status_code == 401
            assert (await http.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
            scraped = await http.get("/metrics", headers={"Authorization": "Bearer scrape-secret-0123456789"})
            assert scraped.status_code == 200 and "govshare_requests_total" in scraped.text
        finally:
            runtime.settings = settings


async def test_unreadable_token_requests_get_oauth_errors(client: httpx.AsyncClient) -> None:
    grant = {"grant_type": "client_credentials"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for scope in ("婚姻", 'mz."assistance', "mz.assistance\\x"):
        response = await client.post("/oauth/token", data={**grant, "scope": scope}, auth=("gz-mzj", "demo-gz-mzj"))
        assert response.status_code == 400, scope
        assert response.json()["error"] == "invalid_scope" and "RFC 6749" in response.json()["error_description"]
    undecodable = await client.post("/oauth/token", content=b"grant_type=client_credentials&scope=%ff", headers=form, auth=("gz-mzj", "demo-gz-mzj"))
    assert undecodable.status_code == 400 and undecodable.json()["error"] == "invalid_scope"
    latin = await client.post(
        "/oauth/token", content=b"grant_type=client_credentials", headers={**form, "Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()}
    )
    assert latin.status_code == 401 and latin.json()["error"] == "invalid_client"
    garbage = await client.post("/oauth/token", content=b"grant_type=client_credentials", headers={**form, "Authorization": "Basic %%%"})
    assert garbage.status_code == 401 and garbage.json()["error"] == "invalid_client"
    several = await client.post("/oauth/token", data={**grant, "scope": "mz.assistance  mz.marriage "}, auth=("gz-mzj", "demo-gz-mzj"))
    assert several.status_code == 200 and several.json()["scope"] == "mz.assistance mz.marriage"


async def test_a_token_request_authenticates_one_way_only(client: httpx.AsyncClient) -> None:
    # RFC 6749, section 2.3: Basic credentials of one client and form credentials of another are refused, not one of them chosen
    both = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "gz-zsj", "client_secret": "demo-gz-zsj"}, auth=("gz-gab", "wrong")
    )
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    tabbed = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "gz-zsj", "client_secret": "demo-gz-zsj"},
        headers={"Authorization": "Basic\t " + base64.b64encode(b"gz-gab:wrong").decode()},
    )
    assert tabbed.status_code == 400 and tabbed.json()["error"] == "invalid_request"
    other_id = await client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "gz-zsj"}, auth=("gz-gab", "demo-gz-gab"))
    assert other_id.status_code == 400 and other_id.json()["error"] == "invalid_request"
    same_id = await client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "gz-gab"}, auth=("gz-gab", "demo-gz-gab"))
    assert same_id.status_code == 200
    post = await client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "gz-zsj", "client_secret": "demo-gz-zsj"})
    assert post.status_code == 200


async def test_routing_refusals_are_api_errors(client: httpx.AsyncClient) -> None:
    missing = await client.get("/graphq")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
    assert missing.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND" and "POST /graphql" in missing.json()["errors"][0]["message"]
    for method in ("PUT", "DELETE"):
        refused = await client.request(method, "/graphql")
        assert refused.status_code == 405 and set(refused.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
        assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST" and f"{method} is not served" in refused.json()["errors"][0]["message"]
    token_by_get = await client.get("/oauth/token")
    assert token_by_get.status_code == 405 and token_by_get.json()["error"] == "invalid_request"


async def test_refusals_of_graphql_carry_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ catalogVersion }"}, headers={"X-Request-Id": "dash-42"})
    assert response.status_code == 401
    assert response.json()["extensions"] == {"requestId": "dash-42"} and response.headers["x-request-id"] == "dash-42"
