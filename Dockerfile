# Cosmic Works agent backend. Runs as a non-root user on port 80; data (SQLite files) on /data.
# Secrets come from the environment at run time, never from a baked-in .env.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-deps --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
COPY catalog ./catalog
COPY core ./core
COPY graphs ./graphs
COPY tools ./tools
# The project alone: every dependency came from the lock above (tests/test_container.py
# installs the same way and serves the acceptance question from it).
RUN /opt/venv/bin/pip install --no-deps .

# Read-only root filesystem ready (docs/operations.md): the venv is compiled at build time and
# nothing writes bytecode at run time; writes go to /data (volume) and /tmp (mount a tmpfs):
#   docker run --read-only --tmpfs /tmp -v cosmic-data:/data -p 8000:80 cosmic-works-agent
# SIGTERM drains: uvicorn waits up to 25 s for requests; running /ai/stream turns get 10 s to
# finish, then end with an `error` event (app/routes/chat.py). Logs: one JSON object per line.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    OPENBLAS_NUM_THREADS=1 \
    COSMIC_WORKS_DATA_DIR=/data \
    COSMIC_WORKS_LOG_FORMAT=json \
    UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=25
RUN useradd --system --uid 10001 --home-dir /data cosmic \
    && mkdir -p /data && chown cosmic /data
COPY --from=build /opt/venv /opt/venv
USER cosmic
WORKDIR /data
VOLUME ["/data"]
EXPOSE 80
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:80/healthz').status != 200)"
# The original lab's command; the lifespan loads the bundled sample into an empty /data store.
CMD ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "80", "--proxy-headers", "--forwarded-allow-ips", "*"]
