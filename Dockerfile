# The same steps as `make serve`: install from constraints.txt (the whole tree pinned), index the
# seeds, serve with gunicorn. Only the service goes in: no tests, benchmarks or tools.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    QA_HOST=0.0.0.0 \
    QA_PORT=8000

WORKDIR /app

# constraints.txt pins torch==2.13.0. A registry serving only the default (CUDA) build of it
# brings several GB of NVIDIA packages, so the build stops; name an index that serves the CPU
# wheel with --build-arg PIP_EXTRA_INDEX_URL=... (README, Docker). pip reads it from the environment.
ARG PIP_EXTRA_INDEX_URL=""

# The dependencies get a layer of their own, installed with the package's first file only, so a
# change to the code does not reinstall them.
COPY pyproject.toml README.md constraints.txt ./
COPY qa/__init__.py ./qa/
RUN pip install -c constraints.txt . \
    && if pip list 2>/dev/null | grep -i '^nvidia'; then \
           echo "CUDA torch resolved: build with --build-arg PIP_EXTRA_INDEX_URL=<a CPU torch index>" >&2; exit 1; \
       fi

COPY qa ./qa
RUN pip install --no-deps -c constraints.txt .

COPY seeds ./seeds
RUN qa index

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["qa", "serve"]
