"""`make run`'s set-up steps (`make setup db demo`) in a fresh clone with nothing beside it: no ``../shared``.

Slow (a virtualenv, ``pip install``, ``npm ci``): pip and npm use their caches as for anyone.
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from app.config import ENV_OVERRIDES

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 15 * 60

pytestmark = pytest.mark.slow


def _clean_env() -> dict[str, str]:
    """This machine's environment as a new terminal has it: without what the outer make (its flags, its
    exported FLASK_APP), the virtualenv or the tests (Atelier's settings) put there. So ``python3`` is the one
    the outer Makefile found (or ``$PYTHON``, if set), not the virtualenv's."""
    dropped = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME",
               "SECRET_KEY", *ENV_OVERRIDES}
    env = {name: value for name, value in os.environ.items()
           if name not in dropped and not name.startswith(("FLASK_", "ATELIER_", "PYTEST_"))}
    venv_bins = {str(Path(sys.prefix) / "bin")}
    if os.environ.get("VIRTUAL_ENV"):
        venv_bins.add(str(Path(os.environ["VIRTUAL_ENV"]) / "bin"))
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", os.defpath).split(os.pathsep) if p not in venv_bins)
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run a command to its end; its output (stdout and stderr), or a failure showing the end of it."""
    # Its own process group: on a timeout, pip or npm under make are stopped too.
    with subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True) as proc:
        try:
            output, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            pytest.fail(f"`{' '.join(args)}` in {cwd} took more than {TIMEOUT} s; its output ends with:\n"
                        f"{output[-6000:]}")
    assert proc.returncode == 0, f"`{' '.join(args)}` in {cwd} exited with {proc.returncode}; its output ends " \
                                 f"with:\n{output[-6000:]}"
    return output


def test_make_run_set_up_steps_work_in_a_fresh_clone(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    clone = empty / "atelier"
    env = _clean_env()
    # The commit checked out here, not the working tree: what a new contributor clones. The repository may belong
    # to another user (CI running as root in someone's checkout): git reads it only when told it may.
    trust = "safe.directory=*"
    head = _run(["git", "-c", trust, "-C", str(REPO), "rev-parse", "HEAD"], REPO, env).strip()
    _run(["git", "-c", trust, "clone", "--quiet", "--no-checkout", "--upload-pack", f"git -c {trust} upload-pack",
          str(REPO), str(clone)], empty, env)
    _run(["git", "checkout", "--quiet", "--detach", head], clone, env)
    assert sorted(p.name for p in empty.iterdir()) == ["atelier"]  # no ../shared beside it

    output = _run(["make", "setup", "db", "demo"], clone, env)
    assert "demo data loaded" in output, output[-6000:]
    with closing(sqlite3.connect(clone / "instance" / "atelier.db")) as conn:
        assert conn.execute("SELECT is_admin FROM users WHERE email = 'admin@atelier.example'").fetchall() == [(1,)]
        moving = conn.execute("SELECT id, name_fr FROM life_events WHERE slug = 'je-demenage'").fetchone()
        assert moving is not None and moving[1] == "Je déménage en France"  # from the reference data
        services = conn.execute("SELECT s.slug, s.external_ref FROM services s JOIN life_event_services l "
                                "ON l.service_id = s.id WHERE l.life_event_id = ?", (moving[0],)).fetchall()
        assert ("compte-ameli", "jdma:44") in services and len(services) >= 5, services
        assert conn.execute("SELECT count(*) FROM workshops").fetchone()[0] > 0

    assert "demo data already present" in _run(["make", "demo"], clone, env)
    assert sorted(p.name for p in empty.iterdir()) == ["atelier"]
    shutil.rmtree(clone)  # half a gigabyte, mostly the virtualenv; a failed run keeps it to look into
