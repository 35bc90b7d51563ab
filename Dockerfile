# insi-gateway: Python 3.11 (spyne does not import on 3.12+), non-root, gunicorn entrypoint.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY setup.cfg pyproject.toml README.md ./
COPY gateway ./gateway
COPY wsdl ./wsdl
RUN pip install -e . \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin gateway

USER gateway
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"

# Configuration comes from the environment (docs/configuration.md);
# mount the establishment certificates read-only.
ENTRYPOINT ["insi-gateway", "serve", "--bind", "0.0.0.0:8080"]
