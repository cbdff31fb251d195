"""Property: over the *whole* GraphQL schema, tenant A never reads or changes tenant B's data,
and a viewer never mutates (issue 3).

Every root field of Query, Mutation and Subscription (introspected from the live schema,
so fields added later are covered automatically) is called with arguments drawn by
Hypothesis from tenant B's real ids and names plus arbitrary values, over real HTTP (and
graphql-transport-ws for subscriptions) against a platform that requires authentication:

* as tenant A's **admin**: no id of tenant B that the request did not itself contain may
  appear in the answer (errors echo the id they were given; that is not a leak);
* as a **viewer** (of A, and of B itself): every mutation is refused with ``FORBIDDEN``;
* at the end, tenant B's nodes (labels, ids and the properties a user would change) are
  exactly as before.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentgraph.settings import Settings
from api.app import schema

GQL = schema._schema
ROOTS = {"query": GQL.query_type, "mutation": GQL.mutation_type, "subscription": GQL.subscription_type}
FIELDS = [(kind, name) for kind, t in ROOTS.items() if t is not None for name in sorted(t.fields)]
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-:.]{5,}")
#: Properties of tenant B's nodes compared before/after (what a user-visible change alters).
WATCHED = "coalesce(n.name, '') + '|' + coalesce(toString(n.status), '') + '|' + " \
          "coalesce(toString(n.latest_version), '') + '|' + coalesce(toString(n.active_version), '') + '|' + " \
          "coalesce(toString(n.role), '') + '|' + coalesce(toString(n.revoked_at), '') + '|' + " \
          "coalesce(toString(n.base_url), '') + '|' + coalesce(toString(n.description), '')"
LABELS = ("Agent", "AgentVersion", "Tool", "Notebook", "Document", "User", "ApiKey", "Budget", "VirtualKey",
          "AgentTrigger", "LLMDeployment")


def _client(services: Settings):
    from graph import GraphClient

    g = services.graph
    return GraphClient(services.graph_uri, g.user, g.password, g.database, backend=services.graph_backend,
                       http_url=f"http://127.0.0.1:{g.http_port}")


async def _tenant_b_state(services: Settings) -> tuple[set[str], dict[str, str]]:
    client = _client(services)
    try:
        ids: set[str] = set()
        state: dict[str, str] = {}
        for label in LABELS + ("Execution", "Comparison"):
            rows = await client.query(f"MATCH (n:{label}) WHERE n.tenant_id = 'default' RETURN n.id AS id, "
                                      f"{WATCHED} AS w")
            for r in rows:
                if r["id"]:
                    ids.add(str(r["id"]))
                    if label in LABELS:
                        state[f"{label}:{r['id']}"] = r["w"]
        return ids, state
    finally:
        await client.close()


async def _make_tenant_a(services: Settings) -> dict[str, str]:
    from graph import ApiKeyRepository, TenantRepository, UserDirectory

    client = _client(services)
    try:
        await TenantRepository(client).ensure_default(tenant_id="acme", user_id="acme-admin")
        keys, users = ApiKeyRepository(client), UserDirectory(client)
        suffix = str(time.time_ns())[-9:]
        for uid, tenant, role in ((f"acme-viewer-{suffix}", "acme", "viewer"),
                                  (f"default-viewer-{suffix}", "default", "viewer")):
            await users.create(tenant_id=tenant, user_id=uid, role=role)
        out = {}
        for name, tenant, uid in (("admin", "acme", "acme-admin"), ("viewer", "acme", f"acme-viewer-{suffix}"),
                                  ("b_viewer", "default", f"default-viewer-{suffix}")):
            out[name] = (await keys.create(tenant_id=tenant, user_id=uid, name="isolation"))[1]
        return out
    finally:
        await client.close()


@pytest.fixture(scope="module")
def world(secured_url: str, services: Settings, gql) -> dict[str, Any]:
    """Tenant B (``default``) with data made through the API; tenant A (``acme``) keys; B's snapshot."""
    from agentgraph.spec import AgentSpec

    spec = AgentSpec(name=f"secret-b-{int(time.time())}", description="tenant B only", system_prompt="p")
    saved = gql("mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }", y=spec.to_yaml())
    agent_id = saved["data"]["saveAgent"]["id"]
    gql('mutation($id: String!) { runAgent(agentId: $id, input: "hello") { id } }', id=agent_id)
    keys = asyncio.run(_make_tenant_a(services))
    ids, state = asyncio.run(_tenant_b_state(services))
    static = json.dumps(gql("{ agentSpecSchema }")) + schema.as_str()
    secret_ids = {i for i in ids if len(i) >= 6 and i not in static and i not in {"default", "admin"}}
    assert agent_id in secret_ids and len(secret_ids) > 3
    return {"url": secured_url, "keys": keys, "ids": secret_ids, "state": state, "samples": sorted(secret_ids)[:50]}


def _value(t: Any, samples: list[str], depth: int = 0) -> st.SearchStrategy:
    if isinstance(t, GraphQLNonNull):
        return _value(t.of_type, samples, depth)
    if isinstance(t, GraphQLList):
        return st.lists(_value(t.of_type, samples, depth + 1), max_size=2)
    if isinstance(t, GraphQLEnumType):
        return st.sampled_from(sorted(t.values))
    if isinstance(t, GraphQLInputObjectType):
        if depth > 2:
            return st.just({})
        required = {n: _value(f.type, samples, depth + 1) for n, f in t.fields.items()
                    if isinstance(f.type, GraphQLNonNull)}
        optional = {n: _value(f.type, samples, depth + 1) for n, f in t.fields.items()
                    if not isinstance(f.type, GraphQLNonNull)}
        return st.fixed_dictionaries(required, optional=optional)
    name = t.name if isinstance(t, GraphQLScalarType) else "String"
    if name in ("Int",):
        return st.integers(min_value=0, max_value=5)
    if name == "Float":
        return st.floats(min_value=0, max_value=10, allow_nan=False)
    if name == "Boolean":
        return st.booleans()
    if name == "JSON":
        return st.sampled_from([{}, {"id": samples[0]}])
    return st.one_of(st.sampled_from(samples), st.text(alphabet="abc-_0123456789", min_size=1, max_size=12))


def _selection(t: Any, depth: int = 0) -> str:
    named = get_named_type(t)
    if not isinstance(named, GraphQLObjectType):
        return ""
    parts = ["__typename"]
    for fname, f in named.fields.items():
        if any(isinstance(a.type, GraphQLNonNull) for a in f.args.values()):
            continue
        inner = get_named_type(f.type)
        if isinstance(inner, (GraphQLScalarType, GraphQLEnumType)):
            parts.append(fname)
        elif isinstance(inner, GraphQLObjectType) and depth < 1:
            sub = _selection(f.type, depth + 1)
            if sub:
                parts.append(f"{fname} {sub}")
    return "{ " + " ".join(parts) + " }"


def _document(kind: str, name: str) -> tuple[str, dict[str, Any]]:
    field = ROOTS[kind].fields[name]
    var_defs = ", ".join(f"${a}: {field.args[a].type}" for a in field.args)
    call_args = ", ".join(f"{a}: ${a}" for a in field.args)
    head = f"{kind} Probe" + (f"({var_defs})" if var_defs else "")
    body = name + (f"({call_args})" if call_args else "") + " " + _selection(field.type)
    return f"{head} {{ {body} }}", dict(field.args)


def _args(kind: str, name: str, samples: list[str]) -> st.SearchStrategy:
    field = ROOTS[kind].fields[name]
    required = {a: _value(arg.type, samples) for a, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull)}
    optional = {a: _value(arg.type, samples) for a, arg in field.args.items()
                if not isinstance(arg.type, GraphQLNonNull)}
    return st.fixed_dictionaries(required, optional=optional)


def _call(world: dict, kind: str, query: str, variables: dict, key: str) -> str:
    """Run one operation; return the raw text of everything the server answered."""
    if kind != "subscription":
        resp = httpx.post(f"{world['url']}/graphql", json={"query": query, "variables": variables},
                          headers={"Authorization": f"Bearer {key}"}, timeout=120)
        return resp.text
    from websockets.sync.client import connect

    ws_url = world["url"].replace("http://", "ws://") + "/graphql"
    out: list[str] = []
    with connect(ws_url, subprotocols=["graphql-transport-ws"], open_timeout=30) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
        out.append(ws.recv(timeout=30))
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}))
        try:
            while True:
                msg = ws.recv(timeout=1.5)
                out.append(msg)
                if json.loads(msg).get("type") in ("complete", "error"):
                    break
        except TimeoutError:
            pass
    return "\n".join(out)


def _leaks(world: dict, answer: str, request: str) -> set[str]:
    # Tenant A's audit log records the ids A's own users sent in refused calls (forensics):
    # echoes of A's input, not B's data.
    try:
        body = json.loads(answer)
        log = (body.get("data") or {}).get("auditLog")
        if isinstance(log, list):
            body["data"]["auditLog"] = [e for e in log if e.get("ok", True)]
            answer = json.dumps(body)
    except (ValueError, AttributeError):
        pass
    asked = set(TOKEN.findall(request))
    return {t for t in TOKEN.findall(answer) if t in world["ids"] and t not in asked}


@pytest.mark.parametrize(("kind", "name"), FIELDS, ids=[f"{k}.{n}" for k, n in FIELDS])
def test_other_tenant_never_sees_or_changes_anything(world: dict, kind: str, name: str) -> None:
    query, _ = _document(kind, name)

    @settings(max_examples=4, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(variables=_args(kind, name, world["samples"]))
    def check(variables: dict) -> None:
        answer = _call(world, kind, query, variables, world["keys"]["admin"])
        leaked = _leaks(world, answer, json.dumps(variables))
        assert not leaked, f"{kind} {name}{variables} returned tenant B ids {leaked}: {answer[:500]}"

    check()


@pytest.mark.parametrize("name", sorted(GQL.mutation_type.fields), ids=str)
def test_viewers_never_mutate(world: dict, name: str) -> None:
    query, _ = _document("mutation", name)

    @settings(max_examples=2, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(variables=_args("mutation", name, world["samples"]))
    def check(variables: dict) -> None:
        for who in ("viewer", "b_viewer"):
            body = json.loads(_call(world, "mutation", query, variables, world["keys"][who]))
            codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors") or []}
            assert (body.get("data") or {}).get(name) is None, body
            assert codes and codes <= {"FORBIDDEN", "GRAPHQL_VALIDATION_FAILED"}, (who, name, body)

    check()


def test_zz_tenant_b_unchanged(world: dict, services: Settings) -> None:
    """Runs last in this module: every watched node of tenant B is as it was before the probes."""
    _, after = asyncio.run(_tenant_b_state(services))
    before = world["state"]
    changed = {k for k in before if after.get(k) != before[k]}
    assert not changed, f"tenant B nodes changed by tenant A / viewer probes: {sorted(changed)[:20]}"
