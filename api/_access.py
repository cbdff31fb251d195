"""Who may do what, enforced once for the whole GraphQL schema, and the audit log.

:class:`AccessExtension` (a strawberry schema extension):

* sets the request's :class:`~api._auth.Caller` for the whole operation (queries,
  mutations and every event of a subscription), so resolvers work inside the caller's
  tenant (``Platform.tenant_id``/``user_id`` read it);
* after validation, checks the role every root field needs (:func:`required_role`):
  viewers read, operators run (and build their own agents), admins configure
  (issue 3). A field not listed needs ``admin`` when it is a mutation and ``viewer``
  otherwise, so a new mutation is closed until someone opens it here;
* records one :class:`~graph.AuditEvent` per root mutation field: who, what, when, the
  target (taken from the field's id arguments, or the id it returns), SHA-256 of the
  target node before and after, and the outcome.

Checking the document's root fields once per operation (not a per-field resolver hook)
keeps the cost independent of the size of the result.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import FieldNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode, OperationDefinitionNode
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types.graphql import OperationType

from agentgraph.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from graph import AuditEvent, new_id, now_iso

from api._auth import Caller, acting_as

log = logging.getLogger("agentgraph.audit")

#: Mutations an operator may call (everything else needs admin). Per-agent grants are checked by the resolvers.
OPERATOR_MUTATIONS = frozenset({
    "runAgent", "cancelRun", "buildAgent", "saveAgent", "publishAgent", "compareModels", "llmComplete",
    "deleteThread", "rememberMemory", "forgetMemory", "cloneAgent", "rateAgent", "analyzeRun",
    "createAgentFromTemplate", "activateVersion", "deprecateAgent", "retryProvisioning", "shareAgent",
    "searchNotebook", "testToolConnection", "testExternalAgent",
    "generateTestInputs", "compareVersions",  # sandbox (issue 7): runs in sandbox mode, no real tool call
})
#: Subscriptions that start work (the rest only read).
OPERATOR_SUBSCRIPTIONS = frozenset({"compareModelsStream"})
#: Queries only admins may call.
ADMIN_QUERIES = frozenset({"auditLog", "apiKeys", "virtualKeys", "deadLetters"})
#: Argument name -> node label of the mutation's target (for the audit log).
_TARGET_ARGS = {"agentId": "Agent", "toolId": "Tool", "notebookId": "Notebook", "documentId": "Document",
                "executionId": "Execution", "runId": "Execution", "triggerId": "AgentTrigger", "keyId": "ApiKey",
                "userId": "User", "budgetId": "Budget", "templateId": "Template", "comparisonId": "Comparison"}
#: Words in a mutation name -> label of its ``id`` argument.
_NAME_HINTS = (("Agent", "Agent"), ("Tool", "Tool"), ("McpServer", "Tool"), ("Notebook", "Notebook"),
               ("Document", "Document"), ("Trigger", "AgentTrigger"), ("Run", "Execution"), ("ApiKey", "ApiKey"),
               ("Budget", "Budget"), ("VirtualKey", "VirtualKey"), ("Deployment", "LLMDeployment"), ("Execution", "Execution"),
               ("Template", "Template"), ("User", "User"))


def required_role(operation: OperationType, field: str) -> str:
    """Least tenant role that may call root ``field`` of an ``operation``."""
    if operation is OperationType.MUTATION:
        return "operator" if field in OPERATOR_MUTATIONS else "admin"
    if operation is OperationType.SUBSCRIPTION:
        return "operator" if field in OPERATOR_SUBSCRIPTIONS else "viewer"
    return "admin" if field in ADMIN_QUERIES else "viewer"


def _root_fields(op: OperationDefinitionNode, fragments: dict[str, Any]) -> list[FieldNode]:
    out: list[FieldNode] = []

    def walk(selections: Any) -> None:
        for sel in selections:
            if isinstance(sel, FieldNode):
                out.append(sel)
            elif isinstance(sel, InlineFragmentNode):
                walk(sel.selection_set.selections)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                walk(fragments[sel.name.value].selection_set.selections)

    walk(op.selection_set.selections)
    return [f for f in out if not f.name.value.startswith("__")]


class AccessExtension(SchemaExtension):
    """Authorization and audit for every GraphQL operation (see module docstring)."""

    def _caller(self) -> Caller | None:
        ctx = self.execution_context.context
        return ctx.get("caller") if isinstance(ctx, dict) else None

    async def on_operation(self) -> AsyncIterator[None]:  # noqa: D102
        with acting_as(self._caller()):
            yield

    def _operation(self) -> tuple[OperationDefinitionNode | None, dict[str, Any]]:
        doc = self.execution_context.graphql_document
        if doc is None:
            return None, {}
        name = self.execution_context.operation_name
        ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        frags = {d.name.value: d for d in doc.definitions if d.kind == "fragment_definition"}
        op = next((o for o in ops if name is None or (o.name and o.name.value == name)), None)
        return op, frags

    async def on_validate(self) -> AsyncIterator[None]:  # noqa: D102
        # Validate here, then check access; strawberry skips its own validation when
        # pre_execution_errors is already set, and stops on any error in it.
        ec = self.execution_context
        if ec.pre_execution_errors is None and ec.graphql_document is not None:
            errors = validate_document(ec.schema._schema, ec.graphql_document, ec.validation_rules)
            ec.pre_execution_errors = errors or self._access_errors()
        yield

    def _access_errors(self) -> list[GraphQLError]:
        op, frags = self._operation()
        if op is None:
            return []
        caller = self._caller()
        try:
            if caller is None:
                raise AuthenticationError("Authentication required: send 'Authorization: Bearer <API key or token>' "
                                          "(over WebSockets, in the connection_init payload).")
            for field in _root_fields(op, frags):
                caller.require(required_role(self.execution_context.operation_type, field.name.value),
                               f"'{field.name.value}'")
        except (PermissionDeniedError, AuthenticationError) as exc:
            return [GraphQLError(exc.message, original_error=exc)]
        return []

    async def on_execute(self) -> AsyncIterator[None]:  # noqa: D102
        ec = self.execution_context
        caller, platform = self._caller(), (ec.context or {}).get("platform")
        if ec.operation_type is OperationType.SUBSCRIPTION or caller is None or platform is None \
                or getattr(platform, "audit", None) is None:
            yield
            return
        mutation = ec.operation_type is OperationType.MUTATION
        if not mutation and caller.at_least("admin"):  # admins see every agent: nothing to check, nothing to audit
            yield
            return
        op, frags = self._operation()
        root_type = ec.schema._schema.mutation_type if mutation else ec.schema._schema.query_type
        try:
            variables = get_variable_values(ec.schema._schema, op.variable_definitions or (), ec.variables or {}) \
                if op else None
        except Exception:  # malformed variables fail in execution with their own error
            variables = None
        targets: list[tuple[str, str | None, str | None, str | None]] = []  # field, label, id, before hash
        for field in _root_fields(op, frags) if op else []:
            name = field.name.value
            label, node_id = None, None
            try:
                args = get_argument_values(root_type.fields[name], field, variables)
                label, node_id = _target(name, args)
            except Exception:  # invalid arguments fail in execution with their own error
                pass
            if label == "Agent" and node_id and not caller.at_least("admin"):
                denied = await _agent_denied(platform, caller, name, node_id)
                if denied is not None:  # skip execution: strawberry runs nothing when a result is set
                    ec.result = GraphQLExecutionResult(data=None, errors=[GraphQLError(
                        denied.message, path=[field.alias.value if field.alias else name], original_error=denied)])
            before = await _safe_hash(platform, caller, label, node_id) if mutation else None
            targets.append((name, label, node_id, before))
        yield
        if not mutation:
            return
        result = ec.result
        data = getattr(result, "data", None) or {}
        errors = getattr(result, "errors", None) or []
        for field_name, label, node_id, before in targets:
            alias_errors = [e for e in errors if e.path and e.path[0] == field_name]
            produced = data.get(field_name) if isinstance(data, dict) else None
            node_id = node_id or _returned_id(produced)
            label = label or _label_from_name(field_name)
            after = await _safe_hash(platform, caller, label, node_id)
            code = None
            if alias_errors:
                orig = alias_errors[0].original_error
                code = getattr(orig, "code", None) or (alias_errors[0].extensions or {}).get("code") or "INTERNAL"
            event = AuditEvent(id=new_id("aud"), tenant_id=caller.tenant_id, user_id=caller.user_id, role=caller.role,
                               action=field_name, target_type=label, target_id=node_id, before_hash=before,
                               after_hash=after, ok=not alias_errors, error_code=code, at=now_iso())
            try:
                await platform.audit.record(event)
            except Exception:  # the mutation already happened; losing its audit row must be loud
                log.exception("could not record audit event %s", event.model_dump())


#: Mutations that change an agent: they need its owner/editor grant (or its creator, or a tenant admin).
EDIT_AGENT_FIELDS = frozenset({"saveAgent", "publishAgent", "activateVersion", "deprecateAgent", "retryProvisioning",
                               "shareAgent", "deleteAgent", "createWebhookTrigger", "createScheduleTrigger"})


async def _agent_denied(platform: Any, caller: Caller, field: str, agent_id: str) -> Exception | None:
    """The error for a non-admin caller without access to the agent (None when allowed).

    Unreadable agents answer NOT_FOUND, exactly like missing ones (no existence oracle).
    """
    sharing = getattr(platform, "sharing", None)
    if sharing is None:
        return None
    viewer = await platform.viewer_of(caller)
    access = await sharing.access(tenant_id=caller.tenant_id, agent_id=agent_id, viewer=viewer)
    if access is None:
        return None  # a missing agent: the resolver answers NOT_FOUND itself
    if not access.read:
        return NotFoundError(f"Agent {agent_id!r} does not exist. List agents with `agentgraph agents list`.")
    if field in EDIT_AGENT_FIELDS and not access.edit:
        return PermissionDeniedError(
            f"'{field}' changes agent {agent_id!r}, which is shared with you read-only ({access.visibility}); "
            "ask its owner for an editor grant (shareAgent).")
    return None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _target(field: str, args: dict[str, Any]) -> tuple[str | None, str | None]:
    # graphql-core gives strawberry's Python names (agent_id); the table uses GraphQL names.
    flat = {_camel(k): v for k, v in args.items()}
    for v in args.values():  # input objects: look one level down
        if isinstance(v, dict):
            flat.update({_camel(k): x for k, x in v.items() if _camel(k) not in flat})
        elif hasattr(v, "__dict__"):  # strawberry input instances
            flat.update({_camel(k): x for k, x in vars(v).items() if _camel(k) not in flat})
    for arg, label in _TARGET_ARGS.items():
        if isinstance(flat.get(arg), str):
            return label, flat[arg]
    if isinstance(flat.get("id"), str):
        return _label_from_name(field), flat["id"]
    return None, None


def _label_from_name(field: str) -> str | None:
    for word, label in _NAME_HINTS:
        if word in field[0].upper() + field[1:]:
            return label
    return None


def _returned_id(value: Any) -> str | None:
    if isinstance(value, dict):
        if isinstance(value.get("id"), str):
            return value["id"]
        for v in value.values():
            found = _returned_id(v) if isinstance(v, dict) else None
            if found:
                return found
    return None


@asynccontextmanager
async def audited(platform: Any, caller: Caller | None, action: str, label: str, node_id: str) -> AsyncIterator[None]:
    """Audit a mutation made outside GraphQL (a REST route) like the extension audits GraphQL ones.

    Records one AuditEvent with the target's hash before and after the block, ``ok`` and
    the error code of an ``AgentGraphError`` raised inside it (re-raised). No-op without
    a caller or an audit repository.
    """
    if caller is None or getattr(platform, "audit", None) is None:
        yield
        return
    before = await _safe_hash(platform, caller, label, node_id)
    code: str | None = None
    try:
        yield
    except Exception as exc:
        code = getattr(exc, "code", None) or "INTERNAL"
        raise
    finally:
        event = AuditEvent(id=new_id("aud"), tenant_id=caller.tenant_id, user_id=caller.user_id, role=caller.role,
                           action=action, target_type=label, target_id=node_id, before_hash=before,
                           after_hash=await _safe_hash(platform, caller, label, node_id), ok=code is None,
                           error_code=code, at=now_iso())
        try:
            await platform.audit.record(event)
        except Exception:  # the change already happened; losing its audit row must be loud
            log.exception("could not record audit event %s", event.model_dump())


async def _safe_hash(platform: Any, caller: Caller, label: str | None, node_id: str | None) -> str | None:
    if not label or not node_id:
        return None
    try:
        return await platform.audit.snapshot_hash(tenant_id=caller.tenant_id, label=label, node_id=node_id)
    except Exception:  # e.g. a label with no tenant_id property: the event is still recorded
        return None


__all__ = ["AccessExtension", "ADMIN_QUERIES", "OPERATOR_MUTATIONS", "audited", "required_role"]
