# The signage service image: one process per container, `signage serve`.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    ENV=prod

RUN groupadd --system signage && useradd --system --gid signage --home /app signage
WORKDIR /app
COPY pyproject.toml README.md ./
COPY actors ./actors
COPY edge ./edge
COPY store ./store
COPY sql ./sql
# Editable install keeps sql/ beside the packages, where the migration runner looks for it.
RUN pip install -e . && mkdir -p /var/lib/signage/media && chown signage:signage /var/lib/signage/media

USER signage
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"
CMD ["signage", "serve", "--host", "0.0.0.0", "--port", "8000"]
