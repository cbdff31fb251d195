"""The DeepLake long-term store shared by several processes (API + ``agentgraph worker``).

Two real OS processes (spawned) open the same store path: each sees the other's
writes, concurrent writers lose nothing, and a key written by both holds one item.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from memory import DeepLakeStore
from tests.integration.test_store_conformance import INDEX

NS = ("acme", "u1", "agent")


def _writer(path: str, name: str, n: int, barrier) -> None:
    """Child process: wait for the other writer, then put ``n`` items and one shared key."""
    store = DeepLakeStore(path, index=INDEX)
    barrier.wait(timeout=120)
    for i in range(n):
        store.put(NS, f"{name}-{i}", {"text": f"{name} fact number {i}", "by": name})
    store.put(NS, "shared", {"text": f"last written by {name}", "by": name})


def _run_writers(path: str, n: int) -> None:
    ctx = mp.get_context("spawn")  # a fresh interpreter per process, like separate workers
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(path, name, n, barrier)) for name in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0, f"writer exited with {p.exitcode}"


def test_two_processes_write_concurrently_and_read_each_other(tmp_path: Path) -> None:
    path = str(tmp_path / "memory")
    reader = DeepLakeStore(path, index=INDEX)  # opened before the writers: must see their commits
    assert reader.search(NS) == []

    _run_writers(path, n=8)

    items = {i.key: i for i in reader.search(NS, limit=100)}
    assert sorted(items) == sorted([f"a-{i}" for i in range(8)] + [f"b-{i}" for i in range(8)] + ["shared"])
    assert items["shared"].value["by"] in ("a", "b")
    assert reader.get(NS, "b-7").value == {"text": "b fact number 7", "by": "b"}
    hits = reader.search(NS, query="b fact number 3", limit=3)
    assert hits and hits[0].key == "b-3", [h.key for h in hits]
    # One row per key on disk: a fresh store sees exactly the same items.
    fresh = DeepLakeStore(path, index=INDEX)
    assert len(fresh._items) == 17
    assert {i.key for i in fresh.search(NS, limit=100)} == set(items)


def test_updates_and_deletes_cross_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "memory")
    one, two = DeepLakeStore(path, index=INDEX), DeepLakeStore(path, index=INDEX)
    one.put(NS, "k", {"text": "first"})
    assert two.get(NS, "k").value == {"text": "first"}
    two.put(NS, "k", {"text": "second"})
    assert one.get(NS, "k").value == {"text": "second"}
    assert one.get(NS, "k").created_at == two.get(NS, "k").created_at
    one.delete(NS, "k")
    assert two.get(NS, "k") is None
    assert two.list_namespaces() == []
