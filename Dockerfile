# The signage service image: one process per container (`signage serve`, or the one-shot
# `signage migrate`). Everything installed is pinned with hashes by requirements/*.txt.
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm

# -- build: the wheel, with the locked setuptools and no network beyond the lock ------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/build.txt requirements/build.txt
RUN pip install --require-hashes --no-deps -r requirements/build.txt
COPY pyproject.toml README.md ./
COPY actors ./actors
COPY edge ./edge
COPY store ./store
COPY simulator ./simulator
COPY sql ./sql
RUN pip wheel --no-deps --no-build-isolation --no-index --wheel-dir /dist .

# -- runtime: the locked dependencies, then the built package (not editable) --------------
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ENV=prod

# Fixed ids: the proxy container reads the media volume as group 10001 (compose.yaml).
RUN groupadd --system --gid 10001 signage \
    && useradd --system --uid 10001 --gid signage --home /app --no-create-home signage
COPY requirements/runtime.txt /tmp/runtime.txt
RUN pip install --require-hashes --no-deps -r /tmp/runtime.txt && rm /tmp/runtime.txt
COPY --from=build /dist/ /tmp/dist/
RUN pip install --no-deps --no-index /tmp/dist/signage-*.whl && rm -r /tmp/dist \
    && mkdir -p /var/lib/signage/media && chown signage:signage /var/lib/signage/media

WORKDIR /app
USER signage
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"
CMD ["signage", "serve", "--host", "0.0.0.0", "--port", "8000"]
