# ProvenFix: one image for `provenfix serve`, `provenfix worker`, `provenfix analyze` and the
# GitHub Action (as a container step). See docs/deploy.md.
#
#   docker build -t provenfix .             # from python:3.12-slim (needs the internet)
#
#   docker build --network host \
#     --build-arg BASE_IMAGE=provenfix/sandbox-base:bookworm \
#     --build-arg EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)" \
#     -t provenfix .                         # no registry: from the local debootstrapped base
#
# Build arguments (all optional):
#   BASE_IMAGE        a Debian-based image with python3 >= 3.11 and its venv module
#                     (default python:3.12-slim); git is installed with apt when it lacks it
#   EXTRAS            extras of the project (default "app": serve and worker); add "model"
#                     for torch and transformers (large), e.g. EXTRAS=app,model
#   INDEX_URL         a package index to use instead of PyPI (a mirror)
#   EXTRA_INDEX_URL   another index, e.g. https://download.pytorch.org/whl/cpu for EXTRAS=model
#   EXTRA_CA_CERTS    PEM text of CAs pip must trust (a TLS-inspecting proxy). Build stage only:
#                     it never reaches the final image.
#
# The final stage has no compiler, no pip and no build arguments; it runs as the non-root
# user `provenfix` (uid/gid 10100).

ARG BASE_IMAGE=python:3.12-slim

# --- deps: a virtual environment in /opt/provenfix ------------------------------------------
FROM ${BASE_IMAGE} AS deps
USER root
ARG EXTRAS="app"
ARG INDEX_URL=""
ARG EXTRA_INDEX_URL=""
ARG EXTRA_CA_CERTS=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_CERT=/opt/build/ca-bundle.pem
WORKDIR /src

# Dependencies first, from pyproject.toml alone: editing the code does not re-download them.
COPY pyproject.toml ./
RUN set -eu; \
    mkdir -p /opt/build; \
    { cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true; \
      printf '%s\n' "$EXTRA_CA_CERTS"; } > /opt/build/ca-bundle.pem; \
    { [ -z "$INDEX_URL" ] || echo "--index-url $INDEX_URL"; \
      [ -z "$EXTRA_INDEX_URL" ] || echo "--extra-index-url $EXTRA_INDEX_URL"; \
      python3 -c 'import sys, tomllib; \
p = tomllib.load(open("pyproject.toml", "rb")); \
extras = [e.strip() for e in sys.argv[1].split(",") if e.strip()]; \
deps = p["project"]["dependencies"] + [d for e in extras for d in p["project"]["optional-dependencies"][e]]; \
deps += p["build-system"]["requires"]; \
print("\n".join(deps))' "$EXTRAS"; \
    } > /opt/build/requirements.txt; \
    python3 -m venv /opt/provenfix; \
    /opt/provenfix/bin/python -m pip install -q --upgrade pip; \
    /opt/provenfix/bin/python -m pip install -q -r /opt/build/requirements.txt

# The runtime copy of the dependencies: no pip, setuptools or wheel in the final image.
FROM deps AS venv
RUN /opt/provenfix/bin/python -m pip uninstall -q -y setuptools wheel pip

# The project itself, installed into its own prefix: a code change rebuilds this small stage
# and one small layer of the final image, never the dependencies.
FROM deps AS project
COPY README.md LICENSE ./
COPY provenfix ./provenfix
COPY bot ./bot
COPY jobs ./jobs
COPY actions ./actions
COPY rules ./rules
COPY schemas ./schemas
RUN /opt/provenfix/bin/python -m pip install -q --no-deps --no-build-isolation \
        --prefix /opt/project . \
 && rm -rf /src/build /src/*.egg-info

# --- runtime ------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
USER root
# git: GitPython runs it (the local base image has it; python:3.12-slim does not).
# safe.directory=*: a checkout mounted from the host (the CLI, the Action) belongs to another
# uid than `provenfix`, and git would refuse it; the worker's own clones are its own anyway.
RUN set -eu; \
    if ! command -v git >/dev/null 2>&1; then \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git ca-certificates; \
      rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    fi; \
    groupadd --gid 10100 provenfix; \
    useradd --uid 10100 --gid 10100 --create-home --home-dir /home/provenfix \
            --shell /usr/sbin/nologin provenfix; \
    git config --system safe.directory '*'; \
    install -d -o provenfix -g provenfix -m 0755 \
        /var/lib/provenfix /var/lib/provenfix/work /var/lib/provenfix/cache
COPY --from=venv /opt/provenfix /opt/provenfix
COPY --from=project /opt/project/ /opt/provenfix/
ENV PATH=/opt/provenfix/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SEMGREP_ENABLE_VERSION_CHECK=0 \
    SEMGREP_SEND_METRICS=off \
    LANG=C.UTF-8 \
    HOME=/home/provenfix
LABEL org.opencontainers.image.title="provenfix" \
      org.opencontainers.image.description="ProvenFix: GitHub App, worker, CLI and Action" \
      org.opencontainers.image.licenses="Apache-2.0" \
      provenfix.sandbox.venv-owner=""
USER 10100:10100
WORKDIR /home/provenfix
RUN provenfix --version && semgrep --version >/dev/null
EXPOSE 8000
ENTRYPOINT ["provenfix"]
CMD ["--help"]
