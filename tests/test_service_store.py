"""The job store against SQLite and a real PostgreSQL: leases, idempotency, stale workers, locks."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time

import pytest
from service_fixtures import pg_url  # noqa: F401

from twin.service.store import IdempotencyConflict, JobStore, open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield open_store(tmp_path / "jobs.sqlite")
        return
    url = request.getfixturevalue("pg_url")
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("results", "permit_decisions", "jobs", "models", "scenarios", "api_keys", "workers"):
            conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    s = open_store(url)
    assert s.backend == "postgresql"
    yield s
    s.close()


def test_claim_complete_exactly_one_result(store):
    job, created = store.submit("test_sleep", "alice", {"seconds": 0})
    assert created and job.state == "queued"
    claimed = store.claim("w1", ["test_sleep"], 30)
    assert claimed.id == job.id and claimed.state == "running" and claimed.attempts == 1
    assert store.claim("w2", ["test_sleep"], 30) is None
    assert store.heartbeat(job.id, "w1", 30, {"step": "x", "done": 1, "total": 2}) == "ok"
    assert store.get_job(job.id).progress == {"step": "x", "done": 1, "total": 2}
    assert store.complete(job.id, "w1", "results/x", {"files": {}}) is True
    assert store.complete(job.id, "w1", "results/y", {"files": {}}) is False
    assert store.count_results(job.id) == 1 and store.get_result(job.id)["path"] == "results/x"
    assert store.get_job(job.id).state == "done"


def test_f11_stale_worker_late_write_ignored(store):
    job, _ = store.submit("test_sleep", "alice", {})
    assert store.claim("slow", ["test_sleep"], 0.2).id == job.id
    time.sleep(0.6)  # 3x the lease without a heartbeat
    assert store.requeue_stale(max_attempts=3) == 1
    again = store.claim("fast", ["test_sleep"], 30)
    assert again.id == job.id and again.attempts == 2
    assert store.heartbeat(job.id, "slow", 30) == "lost"
    assert store.complete(job.id, "slow", "results/slow", {"files": {}}) is False
    assert store.finish(job.id, "slow", "failed", "late") is False
    assert store.complete(job.id, "fast", "results/fast", {"files": {}}) is True
    assert store.count_results(job.id) == 1 and store.get_result(job.id)["path"] == "results/fast"
    final = store.get_job(job.id)
    assert final.state == "done" and final.attempts == 2 and final.worker == "fast"


def test_lease_expiring_every_attempt_fails_the_job(store):
    job, _ = store.submit("test_sleep", "alice", {})
    for attempt in range(2):
        assert store.claim(f"w{attempt}", ["test_sleep"], 0.05) is not None
        time.sleep(0.1)
        store.requeue_stale(max_attempts=2)
    final = store.get_job(job.id)
    assert final.state == "failed" and "worker lost" in final.error and final.attempts == 2


def test_f9_idempotency_key_concurrent(store):
    ids: list[str] = []
    barrier = threading.Barrier(5)

    def submit() -> None:
        barrier.wait()
        job, _ = store.submit("scenario_run", "alice", {"spec": {"a": 1}}, idempotency_key="k-1")
        ids.append(job.id)
        store.close()

    threads = [threading.Thread(target=submit) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 5 and len(set(ids)) == 1
    assert len(store.list_jobs(["scenario_run"])) == 1
    # the same key by another owner is another job; a different request under the key is refused
    other, created = store.submit("scenario_run", "bob", {"spec": {"a": 1}}, idempotency_key="k-1")
    assert created and other.id != ids[0]
    with pytest.raises(IdempotencyConflict):
        store.submit("scenario_run", "alice", {"spec": {"a": 2}}, idempotency_key="k-1")


def test_concurrent_claims_never_share_a_job(store):
    for i in range(20):
        store.submit("test_sleep", "alice", {"i": i})
    claimed: list[str] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while (job := store.claim(name, ["test_sleep"], 30)) is not None:
            with lock:
                claimed.append(job.id)
            assert store.complete(job.id, name, f"r/{job.id}", {"files": {}})
        store.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 20 and len(set(claimed)) == 20
    assert store.count_states() == {"done": 20}


def test_cancel_queued_and_running(store):
    queued, _ = store.submit("test_sleep", "alice", {"n": 1})
    running, _ = store.submit("test_sleep", "alice", {"n": 2})
    assert store.cancel(queued.id) == "cancelled"
    assert store.claim("w", ["test_sleep"], 30).id == running.id
    assert store.cancel(running.id) == "running"
    assert store.heartbeat(running.id, "w", 30) == "cancel"
    assert store.finish(running.id, "w", "cancelled", "cancelled on request")
    assert store.get_job(running.id).state == "cancelled"


def test_keys_models_scenarios_roundtrip(store):
    key_id = store.add_key("n", "analyst", "h" * 64)
    assert store.find_key("h" * 64)["id"] == key_id
    assert store.revoke_key(key_id) and store.find_key("h" * 64) is None
    job_id = store.add_model(
        {"id": "m1", "owner": "a", "name": "m", "format": "ifc", "upload_sha256": "s", "size_bytes": 3},
        "ingest",
        {"upload": "uploads/x.ifc"},
    )
    assert store.get_model("m1")["job_id"] == job_id and store.get_job(job_id).kind == "ingest"
    assert [m["id"] for m in store.list_models("a")] == ["m1"] and store.list_models("b") == []
    sid = store.add_scenario("a", "s", {"name": "s"})
    assert store.get_scenario(sid)["spec"] == {"name": "s"}
    store.worker_seen("w", os.getpid(), "h")
    assert store.live_workers(60) == 1


def test_f8_sqlite_lock_waits_then_writes(tmp_path):
    store = open_store(tmp_path / "jobs.sqlite")
    holder = sqlite3.connect(tmp_path / "jobs.sqlite", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(6.0, lambda: holder.execute("COMMIT")).start()
    t0 = time.monotonic()
    job, created = store.submit("test_sleep", "alice", {})
    waited = time.monotonic() - t0
    assert created and store.get_job(job.id).state == "queued"
    assert 5.0 < waited < 15.0
    holder.close()


def test_unreachable_postgres_is_unavailable_not_a_crash():
    from twin.service.store import JobStoreUnavailable

    store = JobStore("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(JobStoreUnavailable):
        store.ping()


def test_f6_no_space_when_publishing(tmp_path, monkeypatch):
    from twin.service.jobs import worker as worker_mod
    from twin.service.settings import Settings

    settings = Settings(data_dir=tmp_path, test_job_kinds=True, lease_s=2)
    w = worker_mod.Worker(settings)
    first, _ = w.store.submit("test_sleep", "alice", {"seconds": 0.1, "value": "one"})
    w.run_once()
    kept = w.store.get_result(first.id)
    kept_file = tmp_path / kept["path"] / "result.txt"

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(worker_mod.os, "replace", full)
    second, _ = w.store.submit("test_sleep", "alice", {"seconds": 0.1, "value": "two"})
    w.run_once()
    failed = w.store.get_job(second.id)
    assert failed.state == "failed" and "no space" in failed.error
    assert w.store.get_result(second.id) is None and not (tmp_path / "results" / second.id).exists()
    assert kept_file.read_text() == "one" and w.store.get_result(first.id) == kept
    assert list((tmp_path / "work").iterdir()) == []
    # ENOSPC inside the job's own atomic write
    monkeypatch.undo()
    third, _ = w.store.submit("test_enospc", "alice", {})
    w.run_once()
    assert "no space" in w.store.get_job(third.id).error


def test_api_and_worker_on_postgresql(pg_url, tmp_path):  # noqa: F811
    from service_fixtures import make_client

    env = make_client(tmp_path, database_url=pg_url)
    assert env.client.get("/health").json()["backend"] == "postgresql"
    job, _ = env.store.submit("test_sleep", env.principals["analyst"], {"seconds": 0.1, "value": "pg"})
    env.drain()
    r = env.client.get(f"/jobs/{job.id}", headers=env.headers["analyst"])
    assert r.json()["state"] == "done" and env.store.count_results(job.id) == 1
    assert env.client.get(f"/jobs/{job.id}", headers=env.headers["analyst2"]).status_code == 404
