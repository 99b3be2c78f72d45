# ProvenFix: one image for `provenfix serve`, `provenfix worker`, the Action and the CLI.
#
#   docker build -t provenfix .                                   # from python:3.12-slim
#   docker build --network host --build-arg BASE_IMAGE=provenfix/sandbox-base:bookworm -t provenfix .
#                                      # offline machines: from the locally built base image
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
USER root
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY jobs ./jobs
COPY actions ./actions
RUN python3 -m venv /opt/provenfix \
 && /opt/provenfix/bin/pip install --upgrade pip \
 && /opt/provenfix/bin/pip install .

FROM ${BASE_IMAGE}
USER root
RUN (command -v git >/dev/null || (apt-get update && apt-get install -y --no-install-recommends git \
      && rm -rf /var/lib/apt/lists/*)) \
 && (id provenfix >/dev/null 2>&1 || useradd --create-home --uid 10100 provenfix)
COPY --from=build /opt/provenfix /opt/provenfix
COPY rules /opt/provenfix/share/rules
ENV PATH=/opt/provenfix/bin:$PATH \
    PROVENFIX_RULES_DIR=/opt/provenfix/share/rules \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER provenfix
WORKDIR /home/provenfix
ENTRYPOINT ["provenfix"]
CMD ["--help"]
