"""``twin keys`` and the ``twin serve`` / ``twin worker`` registration."""

from __future__ import annotations

from typer.testing import CliRunner

from twin.cli import app


def test_keys_create_list_revoke(tmp_path):
    runner = CliRunner()
    r = runner.invoke(
        app, ["keys", "create", "--role", "reviewer", "--name", "desk 3", "--data-dir", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    key = r.output.strip().splitlines()[-1]
    assert key.startswith("twk_") and len(key) > 40
    assert key not in (tmp_path / "jobs.sqlite").read_bytes().decode("latin-1")  # only the hash is stored
    listing = runner.invoke(app, ["keys", "list", "--data-dir", str(tmp_path)])
    assert "reviewer" in listing.output and "desk 3" in listing.output and key not in listing.output
    key_id = listing.output.split()[0]
    assert runner.invoke(app, ["keys", "revoke", key_id, "--data-dir", str(tmp_path)]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list", "--data-dir", str(tmp_path)]).output
    bad = runner.invoke(app, ["keys", "create", "--role", "boss", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 1 and "unknown role" in bad.output


def test_serve_and_worker_are_registered():
    runner = CliRunner()
    assert "--workers" in runner.invoke(app, ["serve", "--help"]).output
    assert "--data-dir" in runner.invoke(app, ["worker", "--help"]).output
