# syntax=docker/dockerfile:1
# alertd container image.
#
#   docker build -t alertd .
#   docker run -d --name alertd --read-only --cap-drop ALL --security-opt no-new-privileges \
#     -v alertd-state:/var/lib/alertd -v ./alertd.yaml:/etc/alertd/alertd.yaml:ro \
#     --stop-timeout 40 -p 127.0.0.1:9478:9478 alertd
#
# Stop: alertd drains its outbox on SIGTERM for up to ~30 s, while `docker stop` sends SIGKILL
# after 10 s by default, so give it --stop-timeout 40 (compose: stop_grace_period: 40s).
# Secrets: mount them (compose secrets land in /run/secrets/<name>) and point password_file: at
# them. The HTTP listener must bind 0.0.0.0:9478 or 127.0.0.1:9478 for the HEALTHCHECK to reach it.
# Base images are referenced by tag; pin them by digest (python:3.12-slim-bookworm@sha256:...) for
# reproducible release builds.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---- build: wheels for alertd and every dependency --------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY alertd ./alertd
# The project wheel first (no deps), then the dependency wheels resolved from its metadata at the
# versions alertd is tested with (constraints.txt), so the final stage installs from /wheels only
# and never needs a compiler or the network.
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip wheel --wheel-dir /wheels -c constraints.txt /wheels/alertd-*.whl

# ---- runtime -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="alertd" \
      org.opencontainers.image.description="One alert for every failed or warning Veeam backup task session" \
      org.opencontainers.image.licenses="Apache-2.0"

# tini (Debian package) runs as PID 1: it forwards SIGTERM to alertd even before alertd has
# installed its asyncio handlers (the kernel ignores unhandled SIGTERM for PID 1) and reaps
# zombies. alertd itself handles SIGTERM/SIGHUP through asyncio.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 alertd \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin alertd \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/alertd \
 && install -d -m 0755 /etc/alertd

# Bind-mount the wheels instead of COPYing them so they never become an image layer. pip
# byte-compiles at install time, which matters because the root filesystem is read-only at run time.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --disable-pip-version-check /wheels/*.whl

ENV ALERTD_STATE__PATH=/var/lib/alertd/state.db \
    ALERTD_CONFIG=/etc/alertd/alertd.yaml \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

USER 10001:10001
WORKDIR /var/lib/alertd
# Declared after the chown above so a fresh named volume starts owned by uid 10001, mode 0700.
VOLUME ["/var/lib/alertd"]
EXPOSE 9478

# Liveness only (GET /healthz via urllib; slim images have no curl). Readiness stays in /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["alertd", "healthcheck"]

ENTRYPOINT ["/usr/bin/tini", "--", "alertd"]
CMD ["run"]
