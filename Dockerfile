# syntax=docker/dockerfile:1
# insi-gateway: the wheel is built in one stage and installed (not editable) into a slim
# Python 3.11 image (spyne does not import on 3.12+) with no compiler, run as a non-root
# user on a read-only root filesystem. What this file does is reproduced without a
# container engine by tests/integration/test_installed.py; see docs/deployment.md.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY setup.py setup.cfg pyproject.toml README.md ./
COPY gateway ./gateway
COPY wsdl ./wsdl
# The project's wheel and a wheel of each dependency (all have binary wheels or are pure
# Python: no compiler is needed here either).
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="insi-gateway" \
      org.opencontainers.image.description="Shared gateway between hospital applications and the INSi teleservice" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# No DATABASE_URL here: the environment wins over the file named by GATEWAY_CONFIG_FILE,
# so a value set by the image would hide the file's (the Compose replicas' PostgreSQL).
# Without one, the gateway's default (var/gateway.db, relative) lands in the working
# directory below: /var/lib/insi-gateway/var/gateway.db.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/insi-gateway/bin:$PATH \
    TMPDIR=/tmp

# Installed from the build stage's wheels only (--no-index): what runs is what was built.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/insi-gateway \
 && /opt/insi-gateway/bin/pip install --no-cache-dir --no-index --find-links /wheels insi-gateway \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin gateway \
 && install -d -o gateway -g gateway -m 0755 /var/lib/insi-gateway

# Writable paths on a read-only root filesystem: the SQLite database (or use PostgreSQL
# through DATABASE_URL) and /tmp (gunicorn's worker heartbeat files; mount a tmpfs).
# Certificates are mounted read-only, e.g. at /etc/insi.
VOLUME ["/var/lib/insi-gateway", "/tmp"]
WORKDIR /var/lib/insi-gateway
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]

# Configuration comes from the environment (docs/configuration.md), or from a file named by
# GATEWAY_CONFIG_FILE (mounted read-only).
ENTRYPOINT ["insi-gateway"]
CMD ["serve", "--bind", "0.0.0.0:8080"]
