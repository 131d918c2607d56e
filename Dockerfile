# runstream images, one Dockerfile, three targets:
#   web     builds the browser UI (static files)
#   server  runstream server (aiohttp, SQLAlchemy, Kafka and PostgreSQL clients) + the UI
#   agent   the run agent and SDK only: the base of the docker-python target's images
# docker build --target server -t runstream-server .
# docker build --target agent  -t runstream-agent .

FROM node:20-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sdk/ sdk/
COPY agent/ agent/
COPY server/ server/

FROM base AS agent
RUN pip install '.[agent,kafka]' && rm -rf /src
WORKDIR /work
ENTRYPOINT ["runstream"]

FROM base AS server
COPY --from=web /src/server/runstream_server/static/ server/runstream_server/static/
RUN pip install '.[server,kafka,postgres]' && rm -rf /src \
    && useradd --system --home-dir /data runstream && mkdir -p /data && chown runstream /data
USER runstream
WORKDIR /data
ENV RUNSTREAM_HOST=0.0.0.0 RUNSTREAM_PORT=8787 RUNSTREAM_DATA_DIR=/data
EXPOSE 8787
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:8787/api', headers={'Authorization': 'Bearer ' + os.environ.get('RUNSTREAM_TOKEN', '')}))"
ENTRYPOINT ["runstream", "server"]
