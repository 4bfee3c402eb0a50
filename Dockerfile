# imload in a container: the imload CLI with redis-server and toxiproxy-server, so a drill
# with target = "local" (chaos/default.toml) starts its reference cluster inside the
# container as it does on a laptop. docs/container.md says how to build and run it, and
# compose.yaml runs the cluster as services instead.
#
#   docker build -t imload .
#   docker run --rm -v "$PWD/runs:/work/runs" imload run chaos/default.toml --out runs/demo

# toxiproxy-server, built with Go as scripts/setup.sh builds it (the same version).
FROM golang:1.23.4-bookworm AS toxiproxy
ARG TOXIPROXY_VERSION=v2.12.0
RUN GOBIN=/out go install "github.com/Shopify/toxiproxy/v2/cmd/server@${TOXIPROXY_VERSION}"

FROM python:3.11-slim-bookworm
# redis-server: the reference cluster's store; its system service is never started. Not
# pinned to a version: Debian's mirror keeps only the current one of a stable release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
COPY --from=toxiproxy /out/server /usr/local/bin/toxiproxy-server

# imload, installed editable from /opt/imload: drills find locustfiles/ and chaos/ next to
# the package, as in a checkout.
WORKDIR /opt/imload
COPY pyproject.toml setup.py README.md LICENSE ./
COPY imload ./imload
COPY reference_server ./reference_server
COPY locustfiles ./locustfiles
COPY chaos ./chaos
# gcc only to build the journal writer's C fast path (setup.py), removed once built
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir -e . \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* \
    && python -c "import imload.journal.colbuf as c; assert c.AVAILABLE, 'not built'" \
    && imload --version

# Runs as a user of its own; run folders go to /work/runs (mount it). UID: build with
# --build-arg UID=$(id -u) so the files it writes into a mounted folder are yours.
ARG UID=1000
RUN useradd --create-home --uid "${UID}" imload \
    && mkdir -p /work/runs \
    && ln -s /opt/imload/chaos /work/chaos \
    && chown -R imload /work
USER ${UID}
WORKDIR /work
ENTRYPOINT ["imload"]
CMD ["--help"]
