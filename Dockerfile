# syntax=docker/dockerfile:1
# The daoli image: the `daoli` command, run as the non-root user daoli (uid 10001).
#   docker build -t daoli:latest .
#   docker run --rm daoli:latest --help
# Made for `daoli devnet export --compose/--k8s` (docs/deploy.md), whose containers keep the
# node home in /home/daoli/node.

# --- builder: fastecdsa (a libp2p dependency) compiles against GMP ------------------------
FROM python:3.11-slim AS builder
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libgmp-dev \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY daoli ./daoli
RUN pip install .

# --- runtime: the virtual environment and GMP's shared library, no compiler ----------------
FROM python:3.11-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgmp10 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 daoli \
    && useradd --system --uid 10001 --gid daoli --home-dir /home/daoli --create-home \
       --shell /usr/sbin/nologin daoli \
    && install -d -o daoli -g daoli -m 0700 /home/daoli/node
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAOLI_HOME=/home/daoli/node
LABEL org.opencontainers.image.title="daoli" \
      org.opencontainers.image.description="DaoliCloud node and command-line toolkit" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 10001:10001
WORKDIR /home/daoli
# 26656: libp2p (peers), 26657: the local API and /metrics
EXPOSE 26656 26657
# /metrics needs no API token; python instead of curl, which the slim image lacks
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:26657/metrics', timeout=3)"]
ENTRYPOINT ["daoli"]
CMD ["node", "start", "--listen", "/ip4/0.0.0.0/tcp/26656", "--api", "0.0.0.0:26657"]
