"""What can be checked of the container without a Docker engine: the Dockerfile's shape, that
every package is copied, that the CMD's import works, and that secrets stay out of the image."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KNOWN = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_dockerfile_parses_and_has_the_operator_contract() -> None:
    instructions = _instructions()
    assert all(keyword in KNOWN for keyword, _ in instructions), instructions
    args = {keyword: rest for keyword, rest in instructions}  # last one of each kind
    assert [rest for k, rest in instructions if k == "FROM"][-1] == "python:3.11-slim"
    assert args["USER"] not in ("root", "0")
    assert args["EXPOSE"] == "80"
    assert "/healthz" in args["HEALTHCHECK"]
    assert "/data" in args["VOLUME"]
    assert json.loads(args["CMD"]) == [
        "uvicorn", "app:app", "--host", "0.0.0.0", "--port", "80",
        "--proxy-headers", "--forwarded-allow-ips", "*",
    ]  # fmt: skip
    assert any("--require-hashes" in rest for k, rest in instructions if k == "RUN")


def test_every_package_is_copied_into_the_image() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in patterns}
    copied = {rest.split()[0] for k, rest in _instructions() if k == "COPY"}
    assert packages <= copied, packages - copied


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".venv", ".data"} <= ignored


def test_the_cmd_import_works_outside_the_repository(tmp_path: Path) -> None:
    code = (
        "import app, fastapi; a = app.app; "
        "assert isinstance(a, fastapi.FastAPI); "
        "assert a.state.runtime is None; print('ok')"  # nothing connected at import
    )
    env = {"PATH": "/usr/bin:/bin", "COSMIC_WORKS_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert not (tmp_path / "data").exists()  # nothing written before the lifespan runs


def _env_of_final_stage() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    final = text[text.rindex("\nFROM ") :]
    env: dict[str, str] = {}
    for line in final.splitlines():
        keyword, _, rest = line.strip().partition(" ")
        if keyword.upper() == "ENV":
            for pair in rest.split():
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def test_the_image_is_ready_for_a_read_only_root_and_drains_on_sigterm() -> None:
    from app.routes.chat import STREAM_DRAIN_S
    from app.turns import ROLLBACK_TIMEOUT_S

    env = _env_of_final_stage()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # the venv is compiled at build time
    assert env["COSMIC_WORKS_LOG_FORMAT"] == "json"
    # uvicorn reads UVICORN_* for its options: the drained stream must end before it gives up.
    assert int(env["UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN"]) > STREAM_DRAIN_S + ROLLBACK_TIMEOUT_S


def test_the_chat_page_files_are_package_data() -> None:
    """`pip install .` (the image) must carry app/static/chat, or /chat answers 500."""
    from fnmatch import fnmatch

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"].get("package-data", {}).get("app", [])
    static = sorted((ROOT / "app" / "static" / "chat").iterdir())
    assert static
    for path in static:
        relative = path.relative_to(ROOT / "app").as_posix()
        assert any(fnmatch(relative, pattern) for pattern in patterns), relative


def test_make_docker_builds_the_image_or_says_why_not(tmp_path: Path) -> None:
    """`make docker` runs `docker build` with the image name, and fails clearly without Docker."""
    planned = subprocess.run(
        ["make", "-s", "-n", "docker"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "docker build -t cosmic-works-agent ." in planned.stdout
    # A PATH without any docker binary: the target must refuse with a message, not build.
    env = {"PATH": str(tmp_path)}
    make = subprocess.run(["/usr/bin/env", "which", "make"], capture_output=True, text=True)
    result = subprocess.run(
        [make.stdout.strip() or "make", "-s", "docker", "SHELL=/bin/sh"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "no Docker engine is reachable" in result.stderr
