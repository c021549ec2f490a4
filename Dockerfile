# dancu-sandbox: slim, non-root image running `dancu serve` on 0.0.0.0:8000.
# SQLite lives on the /data volume; point DANCU_DATABASE_URL at PostgreSQL to use that instead.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DANCU_HOST=0.0.0.0 \
    DANCU_PORT=8000 \
    DANCU_DATABASE_URL=sqlite:////data/dancu.db

RUN groupadd --system --gid 10001 dancu \
    && useradd --system --uid 10001 --gid dancu --home-dir /app --shell /usr/sbin/nologin dancu \
    && mkdir -p /data \
    && chown dancu:dancu /data

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY seed ./seed
COPY alembic ./alembic
COPY dancu_testing ./dancu_testing
RUN pip install --no-cache-dir .

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=120s \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"]
CMD ["dancu", "serve", "--host", "0.0.0.0", "--port", "8000"]
