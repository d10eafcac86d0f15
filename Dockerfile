# ocpp-gateway: slim Python, non-root, health-checked. Install steps mirror the Makefile's `run` target.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# asyncio reads sockets into 256 KiB buffers; glibc may serve each from a fresh mmap (and munmap it) until
# its adaptive threshold moves, ~35 us of kernel time per message (docs/operations.md, "Memory allocator").
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=524288:glibc.malloc.trim_threshold=1048576

RUN useradd --system --uid 10001 --home-dir /var/lib/ocpp-gateway --create-home gateway \
    && mkdir -p /etc/ocpp-gateway && chown gateway /etc/ocpp-gateway

WORKDIR /opt/ocpp-gateway
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY mappings ./mappings
COPY config.example.yaml /etc/ocpp-gateway/config.yaml

# Same steps as `make run`: a virtual environment with the package installed into it.
RUN python -m venv /opt/ocpp-gateway/.venv \
    && /opt/ocpp-gateway/.venv/bin/pip install --quiet --upgrade pip \
    && /opt/ocpp-gateway/.venv/bin/pip install --quiet .
ENV PATH=/opt/ocpp-gateway/.venv/bin:$PATH

USER gateway
WORKDIR /var/lib/ocpp-gateway
EXPOSE 9000 9300

# The admin listener must be reachable inside the container for this check (admin.host 0.0.0.0 or 127.0.0.1).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9300/healthz', timeout=2).status == 200 else 1)"

ENTRYPOINT ["ocpp-gateway"]
CMD ["run", "--config", "/etc/ocpp-gateway/config.yaml"]
