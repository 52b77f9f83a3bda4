# Tally's four images, built from the repository root: a build and a runtime stage that
# all four share, then one short stage per image that says what it runs. Choose the
# image with --target and give its component's folder as PACKAGE. They must name the same
# component (the posts stage built from services/votes could not start): compose and the
# READMEs pair them as below, and tests/deploy checks that they do.
#
#   docker build --target gateway --build-arg PACKAGE=gateway        -t tally/gateway:dev .
#   docker build --target auth    --build-arg PACKAGE=services/auth  -t tally/auth:dev .
#   docker build --target posts   --build-arg PACKAGE=services/posts -t tally/posts:dev .
#   docker build --target votes   --build-arg PACKAGE=services/votes -t tally/votes:dev .
#
# One image, one process per container: each image's API by default; its relay, worker
# and migrations are other commands of the same image (see each stage's comment).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Dependencies first, in their own layer, rebuilt only when the lock changes: exactly the
# versions of requirements/runtime.txt (`make lock`), every hash checked. PACKAGE is
# declared after it, so the four images share this layer.
COPY requirements/runtime.txt /src/requirements/runtime.txt
RUN pip install --require-hashes -r /src/requirements/runtime.txt
# The component's own package and `shared`, nothing else: not `testing` (test support
# never goes into an image).
ARG PACKAGE
COPY shared /src/shared
COPY ${PACKAGE} /src/${PACKAGE}
RUN pip install --no-deps /src/shared /src/${PACKAGE}

FROM python:3.11-slim AS runtime
ARG PACKAGE
RUN groupadd --system --gid 10001 tally \
 && useradd --system --uid 10001 --gid tally --no-create-home tally
COPY --from=build /opt/venv /opt/venv
COPY --chown=tally ${PACKAGE}/alembic.ini /app/alembic.ini
COPY --chown=tally ${PACKAGE}/migrations /app/migrations
# Logs as one JSON object per line for the log collector (LOG_FORMAT=text for people).
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LOG_FORMAT=json
WORKDIR /app

# One stage per image, each a plain list of what it runs, so that a reader (and
# tests/deploy) sees every image's command as it is. USER comes last, after anything that
# needs root, and numeric, so that Kubernetes' runAsNonRoot can check it. The HEALTHCHECK
# is liveness only: the relays and workers of the image override it (they open no port).

# The gateway; its event worker (user.deleted -> revoked tokens) is `python -m gateway.worker`,
# its migrations `alembic upgrade head` (GATEWAY_DATABASE_URL set for all three).
FROM runtime AS gateway
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["uvicorn", "--factory", "gateway.app:create_app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log"]

# The auth API; the outbox relay is `python -m auth.relay`, migrations `alembic upgrade head`.
FROM runtime AS auth
# The default AUTH_JWT_KEYS_DIR (var/keys/auth, relative to /app) must be writable by
# the service, or its first start cannot generate a key. Mount one volume there, shared
# by every replica (or set AUTH_JWT_PRIVATE_KEY): replicas must sign with the keys the
# JWKS of each of them publishes, and keys must outlive the container.
RUN mkdir -p /app/var/keys/auth && chown -R 10001:10001 /app/var && chmod 700 /app/var/keys/auth
VOLUME /app/var/keys/auth
USER 10001:10001
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8001/healthz', timeout=2)"]
CMD ["uvicorn", "--factory", "auth.app:create_app", "--host", "0.0.0.0", "--port", "8001", "--no-access-log"]

# The posts API; the outbox relay, the event worker and the reconciliation job are
# `python -m posts.relay`, `python -m posts.worker`, `python -m posts.reconcile`;
# migrations `alembic upgrade head`.
FROM runtime AS posts
USER 10001:10001
EXPOSE 8002
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8002/healthz', timeout=2)"]
CMD ["uvicorn", "--factory", "posts.app:create_app", "--host", "0.0.0.0", "--port", "8002", "--no-access-log"]

# The votes API; the outbox relay and the event worker are `python -m votes.relay`,
# `python -m votes.worker`; migrations `alembic upgrade head`.
FROM runtime AS votes
USER 10001:10001
EXPOSE 8003
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8003/healthz', timeout=2)"]
CMD ["uvicorn", "--factory", "votes.app:create_app", "--host", "0.0.0.0", "--port", "8003", "--no-access-log"]
