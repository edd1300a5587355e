# The same steps as `make serve`: install with CPU torch, index the seeds, serve with gunicorn.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    QA_HOST=0.0.0.0 \
    QA_PORT=8000

WORKDIR /app

# torch first and pinned: an unpinned torch resolves a multi-GB CUDA build. Point pip at a
# CPU wheel index with --build-arg PIP_EXTRA_INDEX_URL=... where the registry serves one.
ARG PIP_EXTRA_INDEX_URL=""
RUN pip install "torch==2.13.0"

COPY pyproject.toml README.md ./
COPY qa ./qa
COPY benchmarks ./benchmarks
RUN pip install .

COPY seeds ./seeds
RUN qa index

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["qa", "serve"]
