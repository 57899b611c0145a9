"""`make run`'s set-up steps (`make setup db demo`) in a fresh clone with nothing beside it: no ``../shared``; and the
locks of Python packages they install from (``requirements/``, written by ``make lock``).

The fresh clone is slow (a virtualenv, ``pip install``, ``npm ci``): pip and npm use their caches as for anyone.
"""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tomllib
from contextlib import closing
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.config import ENV_OVERRIDES

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 15 * 60
RUNTIME_LOCK = Path("requirements") / "runtime.txt"
TEST_LOCK = Path("requirements") / "test.txt"
# Some of what only the tests need: `make run` installs none of it.
TEST_TOOLS = {"pytest", "playwright", "ruff", "schemathesis"}


def _locked(lock: Path) -> dict[str, tuple[str, int]]:
    """Each package a lock pins (its canonical name): the version, and how many hashes of its files it gives."""
    locked: dict[str, tuple[str, int]] = {}
    name = None
    for line in lock.read_text().splitlines():
        if pin := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)", line):
            name = canonicalize_name(pin[1])
            assert name not in locked, f"{lock} pins {pin[1]} twice"
            locked[name] = (pin[3], 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            locked[name] = (locked[name][0], locked[name][1] + 1)
    return locked


def _pins(lock: Path) -> dict[str, str]:
    """Each package a lock pins (its canonical name) and its version."""
    return {name: version for name, (version, _) in _locked(lock).items()}


def _declared() -> dict[str, list[Requirement]]:
    """pyproject.toml's direct dependencies: ``runtime``, then each extra (``test``)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = {"runtime": project["dependencies"], **project.get("optional-dependencies", {})}
    return {group: [Requirement(line) for line in lines] for group, lines in groups.items()}


def test_every_direct_dependency_has_an_upper_bound():
    """A new major version (a new minor one below 1.0) may take away what the app or its tests use: `make lock
    UPGRADE=…` must not bring one in unnoticed. Every range also has a floor."""
    declared = _declared()
    assert declared["runtime"] and declared["test"]
    unbounded = [f"{group}: {req}" for group, reqs in declared.items() for req in reqs
                 if not any(spec.operator in ("<", "<=", "==", "~=") for spec in req.specifier)]
    assert not unbounded, f"pyproject.toml declares dependencies without an upper bound: {unbounded}"
    floorless = [f"{group}: {req}" for group, reqs in declared.items() for req in reqs
                 if not any(spec.operator in (">=", ">", "==", "~=") for spec in req.specifier)]
    assert not floorless, f"pyproject.toml declares dependencies without a lower bound: {floorless}"


def test_the_test_lock_keeps_the_runtime_lock_s_versions():
    """`make test` installs requirements/test.txt over what `make run` installed: it must change no package of the
    runtime set, and hold all of it (the test set alone is a whole environment too)."""
    runtime, test = _pins(REPO / RUNTIME_LOCK), _pins(REPO / TEST_LOCK)
    moved = {name: f"{version} in {RUNTIME_LOCK}, {test[name]} in {TEST_LOCK}" for name, version in runtime.items()
             if name in test and test[name] != version}
    assert not moved, f"the test lock moves runtime packages: {moved}; run `make lock`"
    assert not runtime.keys() - test.keys(), f"{TEST_LOCK} lacks runtime packages: {runtime.keys() - test.keys()}"
    assert test.keys() >= TEST_TOOLS and not TEST_TOOLS & runtime.keys(), (TEST_TOOLS, sorted(runtime))


@pytest.mark.parametrize(("lock", "groups"), [(RUNTIME_LOCK, ["runtime"]), (TEST_LOCK, ["runtime", "test"])],
                         ids=["runtime", "test"])
def test_each_lock_pins_what_pyproject_declares_with_hashes(lock, groups):
    """A range changed in pyproject.toml without `make lock` fails here, not at someone's install."""
    locked = _locked(REPO / lock)
    wrong = []
    for req in (req for group in groups for req in _declared()[group]):
        if req.marker is not None and not req.marker.evaluate():
            continue
        version, _ = locked.get(canonicalize_name(req.name), (None, 0))
        if version is None or not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{req} (locked: {version})")
    assert not wrong, f"{lock} does not match pyproject.toml: {wrong}; run `make lock`"
    unhashed = sorted(name for name, (_, hashes) in locked.items() if hashes == 0)
    assert not unhashed, f"{lock} pins packages without the hashes of their files: {unhashed}"


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


@pytest.mark.slow
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

    # The runtime set alone, at the lock's versions: none of the test tools, nor npm's dev packages (vnu-jar).
    listing = _run([str(clone / ".venv" / "bin" / "python"), "-c", "import importlib.metadata as m; "
                    "print(*(f'{d.name}=={d.version}' for d in m.distributions()), sep='\\n')"], clone, env)
    installed = {canonicalize_name(name): version
                 for name, _, version in (line.partition("==") for line in listing.splitlines())}
    runtime = _pins(clone / RUNTIME_LOCK)
    assert {name: installed.get(name) for name in runtime} == runtime
    assert not TEST_TOOLS & installed.keys(), sorted(TEST_TOOLS & installed.keys())
    assert (clone / "node_modules" / "socket.io-client").is_dir()
    assert not (clone / "node_modules" / "vnu-jar").exists()

    assert "demo data already present" in _run(["make", "demo"], clone, env)
    assert sorted(p.name for p in empty.iterdir()) == ["atelier"]
    shutil.rmtree(clone)  # half a gigabyte, mostly the virtualenv; a failed run keeps it to look into
