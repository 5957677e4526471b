"""What can be checked of the container without a Docker engine: the Dockerfile's shape, that
every package is copied, that the CMD's import works, and that secrets stay out of the image."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.server_process import free_port, wait_until_healthy

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


_PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_PACKAGES = {p.rstrip("*") for p in _PROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}


def test_every_package_is_copied_into_the_image() -> None:
    copied = {rest.split()[0] for k, rest in _instructions() if k == "COPY"}
    assert _PACKAGES <= copied, _PACKAGES - copied


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
    result = subprocess.run(
        [shutil.which("make") or "make", "-s", "docker", "SHELL=/bin/sh"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "no Docker engine is reachable" in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_runtime_lock_alone_serves_the_acceptance_question(tmp_path: Path) -> None:
    """What the image installs — `requirements.lock` with `--no-deps`, then the project
    without its tests — serves `/ai` with the image's command from outside the repository.

    The suite runs on the dev lock, a superset: this catches an import that only a test tool
    happened to provide. uv installs from its cache (filled by `make install`).
    """
    uv = Path(sys.executable).parent / "uv"
    # The build context as the Dockerfile copies it: project metadata and the packages only.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for rest in (rest for k, rest in _instructions() if k == "COPY"):
        name = rest.split()[0]
        if (ROOT / name).is_dir() and name in _PACKAGES:
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
    venv = tmp_path / "image-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    for args in (
        [
            "pip",
            "sync",
            "--python",
            str(python),
            "--require-hashes",
            str(ROOT / "requirements.lock"),
        ],
        ["pip", "install", "--python", str(python), "--no-deps", str(source)],
    ):
        done = subprocess.run(
            [str(uv), *args], cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, done.stderr[-3000:]
    installed = subprocess.run(
        [str(uv), "pip", "list", "--python", str(python)], capture_output=True, text=True
    ).stdout
    assert "pytest" not in installed and "torch" not in installed  # the runtime set only

    data_dir = tmp_path / "data"
    port = free_port()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HF_HUB_OFFLINE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "COSMIC_WORKS_DATA_DIR": str(data_dir),
        "COSMIC_WORKS_LOG_FORMAT": "json",
    }
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(venv / "bin" / "uvicorn"), "app:app", "--host", "127.0.0.1", "--port", str(port),
             "--proxy-headers", "--forwarded-allow-ips", "*"],
            cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_healthy(base_url, process, log)
        answer = httpx.post(
            f"{base_url}/ai",
            json={"session_id": "1234", "prompt": "What was the price of the product with sku "
                  "`FR-R92B-58`?"},
            timeout=60,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert "$1431.50" in answer.json()["message"]
        assert httpx.get(f"{base_url}/chat", timeout=10).status_code == 200  # package data
    finally:
        process.terminate()
        process.wait(timeout=30)
    where = subprocess.run(
        [str(python), "-c", "import app, catalog; print(app.__file__, catalog.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert str(ROOT) not in where and str(venv) in where  # the installed package served
