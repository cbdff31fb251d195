"""One store suite, run on LangGraph's ``InMemoryStore`` (the reference) and on our
``DeepLakeStore`` (real DeepLake datasets on disk). Any behaviour difference fails.

Embeddings: a deterministic bag-of-words hashing embedder for exact expectations, plus
one test with the real all-MiniLM-L6-v2 model for semantic recall.
"""

from __future__ import annotations

import hashlib
import math

import pytest
from langgraph.store.base import InvalidNamespaceError
from langgraph.store.memory import InMemoryStore

from memory import DeepLakeStore, MemoryNotFoundError, delete_item, require_item, require_namespace

DIMS = 32


def bow_embed(texts: list[str]) -> list[list[float]]:
    """Unit bag-of-words vectors: texts sharing words are similar, others orthogonal-ish."""
    out = []
    for t in texts:
        v = [0.0] * DIMS
        for w in t.lower().split():
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % DIMS] += 1.0
        n = math.sqrt(sum(x * x for x in v)) or 1.0
        out.append([x / n for x in v])
    return out


INDEX = {"dims": DIMS, "embed": bow_embed, "fields": ["text"]}


@pytest.fixture(params=["inmemory", "deeplake"])
def store(request, tmp_path):
    if request.param == "inmemory":
        return InMemoryStore(index=INDEX)
    return DeepLakeStore(str(tmp_path / "store"), index=INDEX)


@pytest.fixture(params=["inmemory", "deeplake"])
def plain_store(request, tmp_path):
    """Stores without an index: no semantic search."""
    return InMemoryStore() if request.param == "inmemory" else DeepLakeStore(str(tmp_path / "plain"))


def _fill(store) -> None:
    store.put(("users", "ada", "prefs"), "theme", {"text": "dark mode theme", "score": 3, "tags": ["ui"]})
    store.put(("users", "ada", "prefs"), "lang", {"text": "answers in french", "score": 7})
    store.put(("users", "ada", "facts"), "job", {"text": "works on analytical engines", "score": 5})
    store.put(("users", "bob", "prefs"), "theme", {"text": "light mode theme", "score": 1})
    store.put(("docs",), "d1", {"text": "nothing in common", "score": 0}, index=False)


def test_put_get_update_delete(store) -> None:
    assert store.get(("a",), "k") is None
    store.put(("a", "b"), "k", {"text": "hello", "n": 1})
    item = store.get(("a", "b"), "k")
    assert item.value == {"text": "hello", "n": 1} and item.key == "k" and item.namespace == ("a", "b")
    store.put(("a", "b"), "k", {"text": "hello again", "n": 2})
    item2 = store.get(("a", "b"), "k")
    assert item2.value == {"text": "hello again", "n": 2} and item2.updated_at >= item.updated_at
    assert len(store.search(("a",))) == 1
    store.delete(("a", "b"), "k")
    assert store.get(("a", "b"), "k") is None
    store.delete(("a", "b"), "missing")  # BaseStore contract: deleting a missing key is a no-op


async def test_async_api(store) -> None:
    await store.aput(("x",), "k", {"text": "async works"})
    assert (await store.aget(("x",), "k")).value == {"text": "async works"}
    assert [i.key for i in await store.asearch(("x",), query="async")] == ["k"]
    assert await store.alist_namespaces() == [("x",)]
    await store.adelete(("x",), "k")
    assert await store.aget(("x",), "k") is None


def test_search_prefix_filter_offset_limit(store) -> None:
    _fill(store)
    assert {i.key for i in store.search(("users", "ada"))} == {"theme", "lang", "job"}
    assert [i.key for i in store.search(("users", "ada", "prefs"))] == ["theme", "lang"]  # insertion order
    assert [i.key for i in store.search(("users",), limit=2)] == ["theme", "lang"]
    assert [i.key for i in store.search(("users",), offset=2, limit=10)] == ["job", "theme"]
    assert {i.namespace for i in store.search(("users",), filter={"text": "light mode theme"})} == {("users", "bob", "prefs")}
    assert {i.key for i in store.search(("users",), filter={"score": {"$gte": 5}})} == {"lang", "job"}
    assert {i.key for i in store.search(("users",), filter={"score": {"$lt": 3}})} == {"theme"}
    assert [i.key for i in store.search(("users",), filter={"tags": ["ui"]})] == ["theme"]
    assert store.search(("nobody",)) == []


def test_semantic_search_ranks_and_fills(store) -> None:
    _fill(store)
    hits = store.search(("users",), query="dark theme")
    assert [h.key for h in hits][:1] == ["theme"] and hits[0].namespace == ("users", "ada", "prefs")
    scores = [h.score for h in hits if h.score is not None]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.5
    everything = store.search((), query="theme", limit=10)
    assert [h.key for h in everything][-1] == "d1" and everything[-1].score is None  # unembedded items come last
    page = store.search(("users",), query="theme", offset=1, limit=1)
    assert len(page) == 1 and page[0].key == [h.key for h in hits if h.score is not None][1]
    assert [h.key for h in store.search(("users",), query="mode", filter={"score": 1})] == ["theme"]


def test_index_fields_override(store) -> None:
    store.put(("n",), "a", {"text": "apples", "title": "bananas"}, index=["title"])  # only the title is embedded
    store.put(("n",), "b", {"text": "apples", "title": "cherries"})  # default fields: text
    hits = {h.key: h.score for h in store.search(("n",), query="apples")}
    assert hits["b"] == pytest.approx(1.0) and hits["a"] < 0.5
    assert store.search(("n",), query="bananas", limit=1)[0].key == "a"


def test_list_namespaces(store) -> None:
    _fill(store)
    assert store.list_namespaces() == [("docs",), ("users", "ada", "facts"), ("users", "ada", "prefs"),
                                       ("users", "bob", "prefs")]
    assert store.list_namespaces(prefix=("users", "ada")) == [("users", "ada", "facts"), ("users", "ada", "prefs")]
    assert store.list_namespaces(suffix=("prefs",)) == [("users", "ada", "prefs"), ("users", "bob", "prefs")]
    assert store.list_namespaces(prefix=("users", "*", "prefs")) == [("users", "ada", "prefs"), ("users", "bob", "prefs")]
    assert store.list_namespaces(max_depth=2) == [("docs",), ("users", "ada"), ("users", "bob")]
    assert store.list_namespaces(limit=1, offset=1) == [("users", "ada", "facts")]


@pytest.mark.parametrize("bad", [(), ("langgraph", "x"), ("a.b",), ("",)])
def test_invalid_namespaces_rejected(store, bad) -> None:
    with pytest.raises(InvalidNamespaceError):
        store.put(bad, "k", {"text": "x"})


def test_missing_namespace_or_key_errors_say_how_to_fix(store) -> None:
    store.put(("users", "ada"), "k", {"text": "x"})
    with pytest.raises(MemoryNotFoundError, match="is empty or does not exist"):
        require_item(store, ("users", "nobody"), "k")
    with pytest.raises(MemoryNotFoundError, match="No memory 'zz'.*search"):
        require_item(store, ("users", "ada"), "zz")
    with pytest.raises(MemoryNotFoundError):
        delete_item(store, ("users", "ada"), "zz")
    with pytest.raises(MemoryNotFoundError):
        require_namespace(store, ("users", "nobody"))
    delete_item(store, ("users", "ada"), "k")
    assert store.get(("users", "ada"), "k") is None


def test_without_index_search_is_listing(plain_store) -> None:
    plain_store.put(("p",), "a", {"text": "one"})
    plain_store.put(("p",), "b", {"text": "two"})
    hits = plain_store.search(("p",), query="two")
    assert [h.key for h in hits] == ["a", "b"] and all(h.score is None for h in hits)


def test_deeplake_store_persists_across_reopen(tmp_path) -> None:
    path = str(tmp_path / "persist")
    s1 = DeepLakeStore(path, index=INDEX)
    _fill(s1)
    s1.delete(("users", "bob", "prefs"), "theme")
    s1.put(("users", "ada", "prefs"), "lang", {"text": "answers in german", "score": 8})
    s2 = DeepLakeStore(path, index=INDEX)
    assert s2.get(("users", "ada", "prefs"), "lang").value == {"text": "answers in german", "score": 8}
    assert s2.get(("users", "bob", "prefs"), "theme") is None
    assert s2.search(("users",), query="german answers")[0].key == "lang"
    assert ("users", "bob", "prefs") not in s2.list_namespaces()


def test_semantic_recall_with_minilm(tmp_path) -> None:
    from memory import MiniLMEmbedder

    index = {"dims": 384, "embed": MiniLMEmbedder().embed_sync, "fields": ["text"]}
    for s in (InMemoryStore(index=index), DeepLakeStore(str(tmp_path / "minilm"), index=index)):
        s.put(("m",), "lang", {"text": "The user prefers answers in French."})
        s.put(("m",), "pet", {"text": "The user has a dog called Rex."})
        s.put(("m",), "job", {"text": "The user works as a nurse in a hospital."})
        assert s.search(("m",), query="Which language should I reply in?", limit=1)[0].key == "lang"
        assert s.search(("m",), query="animals at home", limit=1)[0].key == "pet"
