"""One DeepLake dataset per notebook: chunks, their embeddings and the search indexes.

Schema (one row per chunk): ``chunk_id``, ``doc_id``, ``filename``, ``content_hash``,
``chunk_index``, ``text`` (BM25 index), ``meta`` (JSON dict, filterable),
``embedding`` (384 float32, clustered vector index). ``IndexingMode.Always``
rebuilds the indexes at every commit, so what is committed is searchable.

Writes are batched: ``batch_rows`` rows per commit (default 1024: one commit per
document for most files; large files commit every 1024 chunks so memory stays
bounded). A modified document is written first and its old chunks removed after,
so the notebook stays searchable during a re-ingest. Rows of the version being written that
are already there (an ingestion interrupted between commits) are removed first, so resuming
is idempotent.

All methods are blocking (DeepLake's Python API is synchronous) and serialised
by a per-index lock; async callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agentgraph.errors import ServiceUnavailableError, UserError

from memory._fusion import reciprocal_rank_fusion

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="notebook-search")
_FILTER_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_QUERY_WORD = re.compile(r"[\w][\w\-]*", re.UNICODE)
_COLUMNS = "chunk_id, doc_id, filename, chunk_index, text, meta"
#: Filter keys matched against columns rather than ``meta``.
_COLUMN_FILTERS = {"document_id": "doc_id", "filename": "filename"}
#: Dataset metadata key: appends followed a delete of the last row(s), the indexes need a rebuild.
_REBUILD_FLAG = "indexes_need_rebuild"


@dataclass
class SearchHit:
    """One chunk returned by :meth:`NotebookIndex.search`.

    Attributes:
        score: fused RRF score (higher is better; at most ``sum(weights) / 61``).
        similarity: cosine similarity of the chunk to the query in [-1, 1].
        bm25: BM25 score from the keyword index, or ``None`` when only the vector search found it.
        vector_rank / bm25_rank: 1-based rank in each retriever's list, ``None`` when absent.
    """

    chunk_id: str
    document_id: str
    filename: str
    chunk_index: int
    text: str
    score: float
    similarity: float
    bm25: float | None = None
    vector_rank: int | None = None
    bm25_rank: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


#: English function words dropped from BM25 queries: near-zero IDF, and each term costs a posting-list scan.
_STOPWORDS = frozenset("""a an and are as at be but by can do does for from has have how i if in into is it its
me my no not of on or our so than that the their them then there these they this to was we were what when where
which who why will with you your""".split())
#: BM25 query terms kept (first occurrences): latency grows with terms (30 terms ~3x slower than 8 at 100k chunks).
MAX_BM25_TERMS = 12


def bm25_terms(query_text: str) -> list[str]:
    """Words of a query for BM25: lower-cased, stopwords dropped, de-duplicated, at most :data:`MAX_BM25_TERMS`."""
    out: list[str] = []
    for w in _QUERY_WORD.findall(query_text.lower()):
        if w not in _STOPWORDS and w not in out:
            out.append(w)
    return out[:MAX_BM25_TERMS]


def _quote(value: str) -> str:
    """TQL string literal (single quotes doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def _vector_literal(vec: np.ndarray) -> str:
    return "ARRAY[" + ",".join(f"{x:.6f}" for x in vec.tolist()) + "]"


def filter_clause(filters: dict[str, Any] | None) -> str:
    """TQL ``WHERE`` clause for metadata filters (``{key: value}``, all must match; lists mean any-of).

    ``document_id`` and ``filename`` filter on columns; other keys on the chunk's metadata.

    Raises:
        UserError: a key is not an identifier or a value is not a string, number or boolean.
    """
    if not filters:
        return ""
    parts = []
    for key, value in filters.items():
        if not _FILTER_KEY.match(key):
            raise UserError(f"Filter key {key!r} is invalid: use letters, digits and underscores (e.g. 'team').")
        target = _COLUMN_FILTERS.get(key, f"meta[{_quote(key)}]")
        values = value if isinstance(value, list) else [value]
        alts = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise UserError(f"Filter {key!r} has a {type(v).__name__} value; use strings or numbers.")
            alts.append(f"{target} = {_quote(v) if isinstance(v, str) else v}")
        parts.append("(" + " OR ".join(alts) + ")")
    return " WHERE " + " AND ".join(parts)


class NotebookIndex:
    """The DeepLake dataset of one notebook (see module docstring).

    Args:
        path: dataset location: a local directory, ``s3://``/``gs://`` path or ``mem://`` (tests).
        dims: embedding size (384 for all-MiniLM-L6-v2).
        batch_rows: rows appended per commit.
        oversample: vector-index candidates per wanted hit in :meth:`vector_search` (default 4).
        text_compression: chunk compression of the ``text`` column of a new dataset (default ``None``,
            uncompressed, see :meth:`_create`; ``"lz4"`` was the default before, benchmarks compare both).

    Raises:
        ServiceUnavailableError: the dataset cannot be opened or created at ``path``.
    """

    def __init__(self, path: str, *, dims: int = 384, batch_rows: int = 1024, oversample: int = 4,
                 text_compression: str | None = None) -> None:
        import deeplake

        self.path = path
        self.oversample = oversample
        self.dims = dims
        self.batch_rows = batch_rows
        self.text_compression = text_compression
        self._lock = threading.RLock()
        try:
            if deeplake.exists(path):
                self.ds = deeplake.open(path)
            else:
                self.ds = self._create(path)
        except Exception as exc:  # deeplake raises many storage-specific types
            raise ServiceUnavailableError(
                f"Cannot open the notebook dataset at {path} ({type(exc).__name__}: {exc}). "
                "Check that the data directory (or bucket) is writable."
            ) from exc
        # Session setting (not stored): rebuild indexes at each commit so committed rows are searchable.
        self.ds.indexing_mode = deeplake.IndexingMode.Always

    def _create(self, path: str):
        import deeplake
        from deeplake import types

        ds = deeplake.create(path)
        ds.add_column("chunk_id", types.Text())
        ds.add_column("doc_id", types.Text())
        ds.add_column("filename", types.Text())
        ds.add_column("content_hash", types.Text())
        ds.add_column("chunk_index", types.Int32())
        # Uncompressed: reading a few random rows (the hits' texts) of an lz4 text column decompresses
        # whole chunks; raw chunks read ~5x faster at 100k rows (tests/bench/bench_notebooks.py).
        ds.add_column("text", types.Text(types.BM25, chunk_compression=self.text_compression))
        ds.add_column("meta", types.Dict())
        ds.add_column("embedding", types.Embedding(self.dims))
        ds.metadata["schema"] = "agentgraph.notebook.v1"
        ds.commit("create notebook dataset")
        return ds

    # --- writes -----------------------------------------------------------------------------------
    def add_document(self, *, doc_id: str, filename: str, content_hash: str, texts: list[str],
                     embeddings: np.ndarray, metadata: list[dict[str, Any]]) -> int:
        """Append a document's chunks (then drop its chunks of other content hashes).

        Args:
            texts: chunk texts in order (``n`` items).
            embeddings: ``(n, dims)`` float32 unit vectors.
            metadata: one dict per chunk (JSON-serialisable).

        Returns:
            number of rows written (``n``).

        Raises:
            ValueError: lengths or embedding shape disagree.
        """
        n = len(texts)
        if embeddings.shape != (n, self.dims) or len(metadata) != n:
            raise ValueError(f"{n} texts, {embeddings.shape} embeddings, {len(metadata)} metadata rows")
        with self._lock:
            # Rows of this very version already there are leftovers of an interrupted ingestion (process
            # stopped between batch commits). Their offsets are taken now and deleted after the append
            # (earlier offsets stay valid), so a resumed ingestion never duplicates chunks.
            leftovers = self._offsets_where(doc_id, only_hash=content_hash)
            for start in range(0, n, self.batch_rows):
                end = min(n, start + self.batch_rows)
                self.ds.append({
                    "chunk_id": [f"{doc_id}:{content_hash[:12]}:{i}" for i in range(start, end)],
                    "doc_id": [doc_id] * (end - start),
                    "filename": [filename] * (end - start),
                    "content_hash": [content_hash] * (end - start),
                    "chunk_index": np.arange(start, end, dtype=np.int32),
                    "text": texts[start:end],
                    "meta": [json.loads(json.dumps(m)) for m in metadata[start:end]],
                    "embedding": embeddings[start:end].astype(np.float32),
                })
                self.ds.commit(f"add {doc_id} chunks {start}-{end}")
            self._delete_offsets(leftovers, f"remove {len(leftovers)} leftover chunks of {doc_id}")
            self._delete_offsets(self._offsets_where(doc_id, keep_hash=content_hash),
                                 f"remove old chunks of {doc_id}")
            self._rebuild_indexes_if_needed()
        return n

    def delete_document(self, doc_id: str) -> int:
        """Remove every chunk of a document; returns how many rows were removed."""
        with self._lock:
            return self._delete_offsets(self._offsets_where(doc_id), f"remove chunks of {doc_id}")

    def _offsets_where(self, doc_id: str, keep_hash: str | None = None, only_hash: str | None = None) -> list[int]:
        # ROW_NUMBER() inside the sub-query is the dataset offset (outside it, the view's).
        where = f"doc_id = {_quote(doc_id)}"
        if keep_hash is not None:
            where += f" AND content_hash != {_quote(keep_hash)}"
        if only_hash is not None:
            where += f" AND content_hash = {_quote(only_hash)}"
        view = self.ds.query(f"SELECT * FROM (SELECT doc_id, content_hash, ROW_NUMBER() AS rn) WHERE {where}")
        return sorted((int(x) for x in view["rn"][:]), reverse=True) if len(view) else []

    def _delete_offsets(self, offsets: list[int], message: str) -> int:
        if not offsets:
            return 0
        if max(offsets) == len(self.ds) - 1:
            # DeepLake 4.7.4 leaves rows appended after a delete of the last row(s) out of the vector and
            # BM25 indexes (they are never found); the indexes are rebuilt after the next append.
            self.ds.metadata[_REBUILD_FLAG] = True
        for off in sorted(offsets, reverse=True):  # descending: earlier offsets stay valid
            self.ds.delete(off)
        self.ds.commit(message)
        return len(offsets)

    def _rebuild_indexes_if_needed(self) -> None:
        """Drop and re-create the vector and BM25 indexes when a tail delete preceded appends (see above)."""
        if not (_REBUILD_FLAG in self.ds.metadata.keys() and self.ds.metadata[_REBUILD_FLAG]):
            return
        from deeplake import types

        self.ds["text"].drop_index(types.BM25)
        self.ds["text"].create_index(types.BM25)
        emb = self.ds["embedding"]
        for ix in list(emb.indexes):
            emb.drop_index(ix)
            emb.create_index(ix)
        self.ds.metadata[_REBUILD_FLAG] = False
        self.ds.commit("rebuild indexes after a tail delete")

    # --- reads ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ds)

    def document_chunks(self) -> dict[str, int]:
        """Chunk count per document id (reads the ``doc_id`` column)."""
        with self._lock:
            if not len(self.ds):
                return {}
            ids, counts = np.unique(np.asarray(self.ds["doc_id"][:], dtype=object).astype(str), return_counts=True)
        return {str(i): int(c) for i, c in zip(ids, counts)}

    def health(self) -> str:
        """``ok`` (searchable), ``empty`` (no chunks) or ``error: <reason>``."""
        try:
            with self._lock:
                if not len(self.ds):
                    return "empty"
                vec = np.zeros(self.dims, dtype=np.float32)
                vec[0] = 1.0
                lit = _vector_literal(vec)
                self.ds.query(f"SELECT chunk_id ORDER BY COSINE_SIMILARITY(embedding, {lit}) DESC LIMIT 1")
            return "ok"
        except Exception as exc:  # health reports, never raises
            return f"error: {type(exc).__name__}: {exc}"[:300]

    # Retrievers return ``(dataset offset, score)`` pairs: ``ROW_NUMBER()`` inside the sub-query is the
    # dataset offset, so rows are then read by offset (no chunk_id lookup, no id -> offset map to keep).
    # The sub-query exposes the filterable columns; the vector index still serves the ORDER BY (same
    # results and recall as the flat query, ~1.5x faster at 100k chunks: tests/bench/bench_notebooks.py).
    def _vector_ids(self, lit: str, limit: int, filters: dict[str, Any] | None) -> list[tuple[int, float]]:
        view = self.ds.query(
            f"SELECT * FROM (SELECT ROW_NUMBER() AS rn, COSINE_SIMILARITY(embedding, {lit}) AS sim, doc_id, "
            f"filename, meta){filter_clause(filters)} ORDER BY sim DESC LIMIT {int(limit)}")
        return _pairs(view, "sim")

    def _bm25_ids(self, query_text: str, limit: int, filters: dict[str, Any] | None) -> list[tuple[int, float]]:
        words = bm25_terms(query_text)
        if not words:
            return []
        q = _quote(" ".join(words))
        # DeepLake 4.7 only accepts BM25 as ``ORDER BY BM25_SIMILARITY(column, 'text') DESC LIMIT k``.
        view = self.ds.query(
            f"SELECT rn, BM25_SIMILARITY(text, {q}) AS score FROM (SELECT ROW_NUMBER() AS rn, text, doc_id, "
            f"filename, meta){filter_clause(filters)} ORDER BY BM25_SIMILARITY(text, {q}) DESC LIMIT {int(limit)}")
        return _pairs(view, "score")

    def _fetch(self, offsets: list[int], query_vec: np.ndarray, sims: dict[int, float]) -> dict[int, dict[str, Any]]:
        """Rows at the given dataset offsets, with their cosine similarity (``sim``) to the query.

        ``sims`` holds similarities already known (from the vector query); the embeddings of the
        other rows are read and compared here (exact cosine, numpy).
        """
        wanted = sorted(set(offsets))
        if not wanted:
            return {}
        cols = {name: self.ds[name][wanted]
                for name in ("chunk_id", "doc_id", "filename", "chunk_index", "text", "meta")}
        missing = [o for o in wanted if o not in sims]
        known = dict(sims)
        if missing:
            emb = np.asarray(self.ds["embedding"][missing], dtype=np.float32).reshape(len(missing), self.dims)
            norms = np.linalg.norm(emb, axis=1) * (float(np.linalg.norm(query_vec)) or 1.0)
            known.update(zip(missing, ((emb @ query_vec) / np.where(norms == 0, 1.0, norms)).tolist()))
        out = {}
        for i, off in enumerate(wanted):
            out[off] = {"chunk_id": str(cols["chunk_id"][i]), "doc_id": str(cols["doc_id"][i]),
                        "filename": str(cols["filename"][i]), "chunk_index": int(cols["chunk_index"][i]),
                        "text": str(cols["text"][i]), "meta": _as_dict(cols["meta"][i]), "sim": float(known[off])}
        return out

    def vector_search(self, query_vec: np.ndarray, limit: int, filters: dict[str, Any] | None = None,
                      oversample: int | None = None) -> list[dict[str, Any]]:
        """Top ``limit`` chunks by cosine similarity through the vector index.

        The clustered index is approximate: it is asked for ``limit * oversample`` candidates
        whose exact similarities are re-sorted (oversample 4 lifts recall@10 from 0.88 to
        0.97 on real MiniLM embeddings, tests/bench/bench_notebooks.py).
        """
        lit = _vector_literal(query_vec)
        with self._lock:
            if not len(self.ds):
                return []
            ids = self._vector_ids(lit, limit * (oversample or self.oversample), filters)
            ids = sorted(ids, key=lambda p: -p[1])[:limit]
            rows = self._fetch([o for o, _ in ids], query_vec, dict(ids))
        return [rows[o] for o, _ in ids if o in rows]

    def bm25_search(self, query_text: str, limit: int, filters: dict[str, Any] | None = None
                    ) -> list[dict[str, Any]]:
        """Top ``limit`` chunks by BM25 over ``text`` (query reduced to its words), with ``score``."""
        with self._lock:
            if not len(self.ds):
                return []
            ids = self._bm25_ids(query_text, limit, filters)
            rows = self._fetch([o for o, _ in ids], np.zeros(self.dims, dtype=np.float32), {o: 0.0 for o, _ in ids})
        return [{**rows[o], "score": sc} for o, sc in ids if o in rows]

    def search(self, query_vec: np.ndarray, query_text: str, *, top_k: int = 5, candidates: int | None = None,
               vector_weight: float = 1.0, bm25_weight: float = 1.0, min_similarity: float | None = None,
               filters: dict[str, Any] | None = None) -> list[SearchHit]:
        """Hybrid search: vector and BM25 candidates fused by reciprocal rank fusion.

        Two retriever queries run concurrently (offsets and scores only), then the rows of the
        fused candidates that can reach the top ``top_k`` are read by offset: text, metadata, and
        the embedding only of BM25-only hits (their cosine is computed here; vector hits carry it).

        Args:
            query_vec: ``(dims,)`` unit query embedding.
            query_text: the query as typed (for BM25).
            top_k: hits returned (1..100).
            candidates: per-retriever candidates before fusion (default ``max(4 * top_k, 40)``; also
                the vector index's oversampling, see :meth:`vector_search`).
            vector_weight / bm25_weight: RRF weights (0 disables a retriever).
            min_similarity: drop hits whose cosine similarity is below this value.
            filters: metadata filters, see :func:`filter_clause`.

        Raises:
            UserError: invalid filters or weights.
        """
        if vector_weight < 0 or bm25_weight < 0 or vector_weight + bm25_weight == 0:
            raise UserError("Search weights must be >= 0 and not both 0 (e.g. vector 1.0, bm25 1.0).")
        n = candidates or max(4 * top_k, 40)
        lit = _vector_literal(query_vec)
        filter_clause(filters)  # validate before any query runs
        with self._lock:
            if not len(self.ds):
                return []
            # The two retrievers run concurrently (DeepLake queries release the GIL).
            kw_future = _POOL.submit(self._bm25_ids, query_text, n, filters) if bm25_weight > 0 else None
            vec = sorted(self._vector_ids(lit, n, filters), key=lambda p: -p[1]) if vector_weight > 0 else []
            kw = kw_future.result() if kw_future else []
            fused = reciprocal_rank_fusion([[o for o, _ in vec], [o for o, _ in kw]],
                                           weights=[vector_weight, bm25_weight])
            # Without a threshold only the first top_k can be returned; with one, later ones may move up.
            wanted = [o for o, _ in (fused if min_similarity is not None else fused[:top_k])]
            rows = self._fetch(wanted, query_vec, dict(vec))
        vec_rank = {o: i for i, (o, _) in enumerate(vec, start=1)}
        kw_rank = {o: i for i, (o, _) in enumerate(kw, start=1)}
        kw_score = dict(kw)
        hits: list[SearchHit] = []
        for off, score in fused:
            r = rows.get(off)
            if r is None:
                continue
            if min_similarity is not None and r["sim"] < min_similarity:
                continue
            hits.append(SearchHit(
                chunk_id=r["chunk_id"], document_id=r["doc_id"], filename=r["filename"],
                chunk_index=r["chunk_index"], text=r["text"], score=round(score, 6), similarity=round(r["sim"], 6),
                bm25=kw_score.get(off), vector_rank=vec_rank.get(off), bm25_rank=kw_rank.get(off), metadata=r["meta"],
            ))
            if len(hits) >= top_k:
                break
        return hits


def _pairs(view: Any, score_col: str) -> list[tuple[int, float]]:
    """``(offset, score)`` pairs of a retriever's result view."""
    if not len(view):
        return []
    return list(zip((int(x) for x in view["rn"][:]), (float(x) for x in view[score_col][:])))


def _as_dict(meta: Any) -> dict[str, Any]:
    if isinstance(meta, dict):
        return meta
    try:
        return json.loads(str(meta))  # deeplake's Dict renders as JSON text
    except (TypeError, ValueError):
        return {}


__all__ = ["NotebookIndex", "SearchHit", "filter_clause", "bm25_terms", "MAX_BM25_TERMS"]
