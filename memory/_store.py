"""Long-term memory: a LangGraph ``BaseStore`` backed by DeepLake.

It behaves like LangGraph's ``InMemoryStore`` (the same conformance suite runs on
both, ``tests/integration/test_store_conformance.py``): hierarchical namespaces,
put/get/delete, search with a namespace prefix, JSON filters (``$eq``, ``$gt``...),
offset/limit, semantic search over the configured ``index.fields`` (max-pooled
cosine similarity, unembedded items after scored ones) and ``list_namespaces``
with prefix/suffix conditions and ``max_depth``.

Storage: two datasets under ``path``: ``items`` (``ns``, ``item_key``, ``value`` JSON,
``created_at``, ``updated_at``) and ``vectors`` (``ns``, ``item_key``, ``field``,
``embedding``; one row per embedded field). Namespaces are stored as their labels
joined by ``.`` (labels cannot contain ``.``), so a prefix search is a TQL ``LIKE``.
Cosine similarities are computed by DeepLake; item values are mirrored in memory.

Several processes (the API and ``agentgraph worker`` processes) share one store path:

* reads see other processes' writes: every batch first refreshes both datasets
  (``Dataset.refresh()``, ~0.3 ms on local disk) and, when a version changed, reloads
  the mirror (under the writer lock, so items and vectors are read at one commit);
* writers are serialised by a cross-process lock held from refresh to commit, so row
  offsets (deletes) and "last put wins" stay exact: a ``filelock`` file
  (``<path>/.writer.lock``) for local paths; for bucket paths the caller passes a lock
  (the platform uses a Redis lock), without one a single writer is assumed.
* DeepLake itself merges concurrent commits of appends; the lock is what keeps one
  item one row. Should two rows of a key still exist (a writer without the lock), the
  later row wins on load and the next put of the key replaces both.
Differences from ``InMemoryStore``: ``created_at`` is kept across updates, and a
namespace disappears from ``list_namespaces`` when its last item is deleted.

:func:`require_item`, :func:`delete_item` and :func:`require_namespace` work on any
store and raise :class:`MemoryNotFoundError` with how to fix it, for callers that
want an error rather than ``None``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

# Same matching semantics as InMemoryStore, by construction (shared helpers).
from langgraph.store.memory import _compare_values, _does_match

from agentgraph.errors import NotFoundError, ServiceUnavailableError

Namespace = tuple[str, ...]
log = logging.getLogger("agentgraph.memory")


class MemoryNotFoundError(NotFoundError):
    """A memory namespace or key does not exist."""

    code = "MEMORY_NOT_FOUND"


def _ns_text(ns: Namespace) -> str:
    return ".".join(ns) + "."


def _tql(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class DeepLakeStore(BaseStore):
    """LangGraph store on DeepLake (see module docstring).

    Args:
        path: directory (or ``s3://``, ``gs://``, ``mem://``) holding the two datasets.
        index: LangGraph ``IndexConfig`` (``dims``, ``embed``, ``fields``); ``None`` disables semantic search.
        lock: factory of the cross-process writer lock (a context manager, e.g. ``lambda: redis.lock(...)``);
            default: a file lock next to the datasets for local paths, none for ``mem://`` and buckets.

    Raises:
        ServiceUnavailableError: the datasets cannot be opened or created.
    """

    supports_ttl = False

    def __init__(self, path: str, *, index: IndexConfig | None = None,
                 lock: Callable[[], AbstractContextManager[Any]] | None = None) -> None:
        self.path = path.rstrip("/")
        self.index_config = dict(index) if index else None
        self.embeddings = ensure_embeddings(index.get("embed")) if index else None
        self._fields = [(p, tokenize_path(p) if p != "$" else p) for p in ((index or {}).get("fields") or ["$"])]
        self.dims = int(index["dims"]) if index else 0
        self._lock = threading.RLock()
        self._data: dict[Namespace, dict[str, Item]] = defaultdict(dict)
        self._item_rows: list[tuple[Namespace, str]] = []
        self._vec_rows: list[tuple[Namespace, str]] = []
        self._writer_lock = lock or self._default_lock()
        self._seen: tuple[str, str] | None = None
        try:
            with self._writer_lock():
                self._items, self._vectors = self._open()
                self._load()
        except Exception as exc:
            raise ServiceUnavailableError(
                f"Cannot open the long-term memory store at {self.path} ({type(exc).__name__}: {exc}). "
                "Check that the data directory (or bucket) is writable."
            ) from exc

    def _default_lock(self) -> Callable[[], AbstractContextManager[Any]]:
        if "://" not in self.path:
            from filelock import FileLock

            Path(self.path).mkdir(parents=True, exist_ok=True)
            file_lock = FileLock(f"{self.path}/.writer.lock", timeout=60)  # re-entrant within a process
            return lambda: file_lock
        if not self.path.startswith("mem://"):
            log.warning("memory store at %s has no cross-process writer lock: one writer process assumed",
                        self.path)
        return contextlib.nullcontext

    # --- storage ----------------------------------------------------------------------------------
    def _open(self):
        import deeplake
        from deeplake import types

        items_path, vec_path = f"{self.path}/items", f"{self.path}/vectors"
        if deeplake.exists(items_path):
            items = deeplake.open(items_path)
        else:
            items = deeplake.create(items_path)
            for col in ("ns", "item_key", "value", "created_at", "updated_at"):
                items.add_column(col, types.Text())
            items.commit("create memory items")
        if deeplake.exists(vec_path):
            vectors = deeplake.open(vec_path)
        else:
            vectors = deeplake.create(vec_path)
            vectors.add_column("ns", types.Text())
            vectors.add_column("item_key", types.Text())
            vectors.add_column("field", types.Text())
            vectors.add_column("embedding", types.Embedding(self.dims or 384))
            vectors.commit("create memory vectors")
        return items, vectors

    def _versions(self) -> tuple[str, str]:
        return str(self._items.version), str(self._vectors.version)

    def _refresh(self) -> bool:
        """Pull other processes' commits; True when either dataset moved since the mirror was loaded."""
        self._items.refresh()
        self._vectors.refresh()
        return self._versions() != self._seen

    def _load(self) -> None:
        self._data.clear()
        self._item_rows = []
        self._vec_rows = []
        self._seen = self._versions()
        if len(self._items):
            cols = {c: self._items[c][:] for c in ("ns", "item_key", "value", "created_at", "updated_at")}
            for i in range(len(self._items)):
                ns = tuple(str(cols["ns"][i])[:-1].split("."))
                key = str(cols["item_key"][i])
                self._data[ns][key] = Item(value=json.loads(str(cols["value"][i])), key=key, namespace=ns,
                                           created_at=datetime.fromisoformat(str(cols["created_at"][i])),
                                           updated_at=datetime.fromisoformat(str(cols["updated_at"][i])))
                self._item_rows.append((ns, key))
        if len(self._vectors):
            ns_col, key_col = self._vectors["ns"][:], self._vectors["item_key"][:]
            self._vec_rows = [(tuple(str(n)[:-1].split(".")), str(k)) for n, k in zip(ns_col, key_col)]

    # --- BaseStore --------------------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Execute ops in order (puts to the same key: the last wins, like ``InMemoryStore``)."""
        ops = list(ops)
        texts, queries = self._plan(ops)
        vecs = self.embeddings.embed_documents(texts) if texts and self.embeddings else []
        qvecs = {q: self.embeddings.embed_query(q) for q in queries} if queries and self.embeddings else {}
        return self._execute(ops, texts, vecs, qvecs)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async :meth:`batch`: embeddings via ``aembed_*``, DeepLake I/O in a worker thread."""
        ops = list(ops)
        texts, queries = self._plan(ops)
        vecs = await self.embeddings.aembed_documents(texts) if texts and self.embeddings else []
        qvecs: dict[str, list[float]] = {}
        if queries and self.embeddings:
            qlist = sorted(queries)
            qvecs = dict(zip(qlist, await asyncio.gather(*(self.embeddings.aembed_query(q) for q in qlist))))
        return await asyncio.to_thread(self._execute, ops, texts, vecs, qvecs)

    def _plan(self, ops: list[Op]) -> tuple[list[str], set[str]]:
        texts: list[str] = []
        queries: set[str] = set()
        for op in ops:
            validate_op_namespace(op)
            if isinstance(op, PutOp) and op.value is not None and op.index is not False and self.embeddings:
                for _, text in self._texts(op):
                    texts.append(text)
            elif isinstance(op, SearchOp) and op.query and self.embeddings:
                queries.add(op.query)
        return texts, queries

    def _texts(self, op: PutOp) -> list[tuple[str, str]]:
        paths = self._fields if op.index is None else [(ix, tokenize_path(ix)) for ix in op.index]
        out = []
        for path, tokens in paths:
            found = get_text_at_path(op.value, tokens)
            for i, text in enumerate(found):
                out.append((f"{path}.{i}" if len(found) > 1 else path, text))
        return out

    def _execute(self, ops: list[Op], texts: list[str], vecs: list[list[float]],
                 qvecs: dict[str, list[float]]) -> list[Result]:
        has_puts = any(isinstance(op, PutOp) for op in ops)
        with self._lock:
            if has_puts:  # refresh -> apply -> commit under the writer lock
                with self._writer_lock():
                    if self._refresh():
                        self._load()
                    return self._run_ops(ops, vecs, qvecs)
            if self._refresh():
                with self._writer_lock():  # a consistent pair of versions while reloading
                    self._refresh()
                    self._load()
            return self._run_ops(ops, vecs, qvecs)

    def _run_ops(self, ops: list[Op], vecs: list[list[float]], qvecs: dict[str, list[float]]) -> list[Result]:
        vec_iter = iter(vecs)
        results: list[Result] = []
        puts: dict[tuple[Namespace, str], tuple[PutOp, list[tuple[str, list[float]]]]] = {}
        for op in ops:
            if isinstance(op, GetOp):
                results.append(self._data.get(op.namespace, {}).get(op.key))
            elif isinstance(op, SearchOp):
                results.append(self._search(op, qvecs.get(op.query) if op.query else None))
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op))
            elif isinstance(op, PutOp):
                embedded = []
                if op.value is not None and op.index is not False and self.embeddings:
                    embedded = [(path, next(vec_iter)) for path, _ in self._texts(op)]
                puts[(op.namespace, op.key)] = (op, embedded)
                results.append(None)
            else:
                raise ValueError(f"Unknown operation type: {type(op)}")
        if puts:
            self._apply_puts(puts)
        return results

    def _apply_puts(self, puts: dict[tuple[Namespace, str], tuple[PutOp, list[tuple[str, list[float]]]]]) -> None:
        now = datetime.now(timezone.utc)
        targets = set(puts)
        item_offsets = [i for i, row in enumerate(self._item_rows) if row in targets]
        vec_offsets = [i for i, row in enumerate(self._vec_rows) if row in targets]
        for off in reversed(item_offsets):  # descending, so earlier offsets stay valid
            self._items.delete(off)
            del self._item_rows[off]
        for off in reversed(vec_offsets):
            self._vectors.delete(off)
            del self._vec_rows[off]
        item_rows: dict[str, list[str]] = defaultdict(list)
        vec_rows: dict[str, list[Any]] = defaultdict(list)
        for (ns, key), (op, embedded) in puts.items():
            old = self._data.get(ns, {}).get(key)
            if op.value is None:
                if ns in self._data:
                    self._data[ns].pop(key, None)
                    if not self._data[ns]:
                        del self._data[ns]
                continue
            created = old.created_at if old else now
            self._data[ns][key] = Item(value=dict(op.value), key=key, namespace=ns, created_at=created, updated_at=now)
            for col, val in (("ns", _ns_text(ns)), ("item_key", key), ("value", json.dumps(op.value)),
                             ("created_at", created.isoformat()), ("updated_at", now.isoformat())):
                item_rows[col].append(val)
            self._item_rows.append((ns, key))
            for field, vec in embedded:
                vec_rows["ns"].append(_ns_text(ns))
                vec_rows["item_key"].append(key)
                vec_rows["field"].append(field)
                vec_rows["embedding"].append(np.asarray(vec, dtype=np.float32))
                self._vec_rows.append((ns, key))
        if item_rows:
            self._items.append(dict(item_rows))
        if vec_rows:
            self._vectors.append({**vec_rows, "embedding": np.stack(vec_rows["embedding"])})
        self._items.commit()
        self._vectors.commit()
        self._seen = self._versions()

    def _scores(self, prefix: Namespace, qvec: list[float]) -> dict[tuple[Namespace, str], float]:
        """Max cosine similarity per item under ``prefix``, computed by DeepLake."""
        if not len(self._vectors):
            return {}
        lit = "ARRAY[" + ",".join(f"{x:.6f}" for x in qvec) + "]"
        like = _ns_text(prefix) if prefix else ""
        like = like.split("%", 1)[0]  # '%' is LIKE's wildcard: match up to it, then filter exactly below
        where = f" WHERE ns LIKE {_tql(like + '%')}" if like else ""
        view = self._vectors.query(f"SELECT ns, item_key, COSINE_SIMILARITY(embedding, {lit}) AS sim{where}")
        out: dict[tuple[Namespace, str], float] = {}
        if not len(view):
            return out
        for ns_s, key, sim in zip(view["ns"][:], view["item_key"][:], view["sim"][:]):
            ident = (tuple(str(ns_s)[:-1].split(".")), str(key))
            out[ident] = max(out.get(ident, -2.0), float(sim))
        return out

    def _search(self, op: SearchOp, qvec: list[float] | None) -> list[SearchItem]:
        n = len(op.namespace_prefix)
        candidates = [
            item for ns, items in self._data.items() if ns[:n] == op.namespace_prefix
            for item in items.values()
            if not op.filter or all(_compare_values(item.value.get(k), v) for k, v in op.filter.items())
        ]
        if qvec is None:
            return [_search_item(item, None) for item in candidates[op.offset:op.offset + op.limit]]
        scores = self._scores(op.namespace_prefix, qvec)
        scored = sorted(((scores[(i.namespace, i.key)], i) for i in candidates if (i.namespace, i.key) in scores),
                        key=lambda p: p[0], reverse=True)
        kept: list[tuple[float | None, Item]] = list(scored[op.offset:op.offset + op.limit])
        scoreless = [i for i in candidates if (i.namespace, i.key) not in scores]
        if scoreless and len(kept) < op.limit:
            kept.extend((None, i) for i in scoreless[: op.limit - len(kept)])
        return [_search_item(item, score) for score, item in kept]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[Namespace]:
        namespaces = [ns for ns, items in self._data.items() if items]
        if op.match_conditions:
            namespaces = [ns for ns in namespaces if all(_does_match(c, ns) for c in op.match_conditions)]
        if op.max_depth is not None:
            namespaces = sorted({ns[: op.max_depth] for ns in namespaces})
        else:
            namespaces = sorted(namespaces)
        return namespaces[op.offset: op.offset + op.limit]


def _search_item(item: Item, score: float | None) -> SearchItem:
    return SearchItem(namespace=item.namespace, key=item.key, value=item.value, created_at=item.created_at,
                      updated_at=item.updated_at, score=float(score) if score is not None else None)


def require_namespace(store: BaseStore, namespace: Namespace) -> None:
    """Raise :class:`MemoryNotFoundError` unless ``namespace`` holds at least one item."""
    if not store.search(namespace, limit=1):
        raise MemoryNotFoundError(
            f"Memory namespace {namespace!r} is empty or does not exist. Check the tenant/user/agent ids, "
            "or store a memory first (the agent's `remember` tool, or `rememberMemory`)."
        )


def require_item(store: BaseStore, namespace: Namespace, key: str) -> Item:
    """``store.get`` that raises :class:`MemoryNotFoundError` (saying whether the namespace exists)."""
    item = store.get(namespace, key)
    if item is None:
        require_namespace(store, namespace)
        raise MemoryNotFoundError(
            f"No memory {key!r} in namespace {namespace!r}. List the keys with `search` (or the `memories` query)."
        )
    return item


def delete_item(store: BaseStore, namespace: Namespace, key: str) -> None:
    """Delete a memory; raises :class:`MemoryNotFoundError` when it does not exist (``BaseStore`` would no-op)."""
    require_item(store, namespace, key)
    store.delete(namespace, key)


__all__ = ["DeepLakeStore", "MemoryNotFoundError", "require_item", "require_namespace", "delete_item"]
