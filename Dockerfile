# syntax=docker/dockerfile:1
# Strata: one image for every service. `strata serve <service> --host 0.0.0.0 --port 8080`,
# `strata worker orders --host 0.0.0.0 --port 8080`; the Helm chart and compose.yaml pass
# those arguments. The demo ERP image (compose's Tryton) is the same build with
# EXTRAS=otlp,tryton.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtual environment with Strata and its dependencies --------------------------
FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=otlp
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Compilers for any dependency without a wheel for the target platform; they stay here.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/strata \
 && /opt/strata/bin/pip install --upgrade pip
WORKDIR /src
# Dependencies first, pinned by constraints.txt, so a code change reuses this layer.
COPY pyproject.toml constraints.txt README.md ./
COPY strata ./strata
COPY shared ./shared
COPY system_apis ./system_apis
COPY process_apis ./process_apis
COPY experience_apis ./experience_apis
COPY sandbox ./sandbox
RUN /opt/strata/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/strata/bin/pip install -c constraints.txt "$(ls /wheels/strata-*.whl)[${EXTRAS}]" \
 && /opt/strata/bin/strata --help > /dev/null

# --- runtime: the virtual environment on a clean base, no compilers, not root --------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="Strata" \
      org.opencontainers.image.description="API-led integration gateway linking Shopify storefronts, ERPs and service desks" \
      org.opencontainers.image.source="https://github.com/strata-retail/strata" \
      org.opencontainers.image.url="https://github.com/strata-retail/strata" \
      org.opencontainers.image.documentation="https://github.com/strata-retail/strata/blob/main/README.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Strata maintainers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
# The same uid and gid as the Helm chart's podSecurityContext (runAsUser 10001).
RUN groupadd --system --gid 10001 strata \
 && useradd --system --uid 10001 --gid strata --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin strata \
 && install -d -o strata -g strata /var/lib/strata /var/lib/strata/auth /var/lib/strata/erp
COPY --from=build /opt/strata /opt/strata
ENV PATH=/opt/strata/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The root filesystem may be read-only (the chart mounts /tmp; compose, volumes on
# /var/lib/strata, which a new volume takes its owner from).
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["strata"]
CMD ["--help"]
