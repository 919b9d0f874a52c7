# Townlet image: `docker build -t townlet .`; run with `docker compose up` (compose.yaml)
# or docker run --shm-size=512m -v townlet-keys:/keys:ro ... townlet. See docs/ops/runbook.md.
#
# The frame ring lives in /dev/shm and needs ring_slots x the frame size plus the event
# log: about 97 B per agent per slot (~390 MB at 1M agents x 4 slots) + ~27 MB, against
# Docker's 64 MB default. Give it --shm-size (compose: shm_size); if it is too small,
# `townlet run` refuses to start and says how much it needs.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: compile the cffi core (links -lrt) and warm the Numba cache -------------
FROM ${PYTHON_IMAGE} AS build
# The compiler only builds the C core; the base image's Debian release fixes its version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md constraints.txt ./
COPY bindings bindings
COPY core core
COPY configs configs
COPY townlet townlet
COPY deploy/build.sh deploy/build.sh
# Same paths as the runtime stage: Numba's cache index records the sources' paths.
RUN bash deploy/build.sh /src /opt/townlet /opt/townlet/numba-cache

# ---- runtime: slim, non-root, no compiler, no secrets --------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/townlet --create-home townlet \
    && mkdir -p /keys /logs /snapshots /recordings \
    && chown townlet:townlet /keys /logs /snapshots /recordings
COPY --from=build /opt/townlet /opt/townlet
COPY --from=build --chown=townlet:townlet /opt/townlet/numba-cache /opt/townlet/numba-cache
COPY configs/container.yaml /etc/townlet/config.yaml
ENV PATH=/opt/townlet/bin:$PATH \
    NUMBA_CACHE_DIR=/opt/townlet/numba-cache \
    TOWNLET_CONFIG=/etc/townlet/config.yaml \
    TOWNLET_KEY_DIR=/keys \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/townlet
# Keys are mounted read-only (never baked in); logs, snapshots and recordings persist.
VOLUME ["/logs", "/snapshots", "/recordings"]
# console (CURVE), publisher (CURVE), simulation metrics+probes, publisher metrics+probes,
# recorder metrics+probes
EXPOSE 7571 7710 9464 9465 9466 9467
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/livez', timeout=4)"]
ENTRYPOINT ["townlet"]
CMD ["run", "--forever"]
