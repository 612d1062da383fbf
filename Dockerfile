# Headrace: API, worker and dashboard in one image (`headrace api`, `headrace worker`,
# `headrace migrate`). Multi-stage: Node builds the dashboard, a slim Python image runs it.

# --- stage 1: the dashboard (React + Vite) ------------------------------------------------
FROM node:20-bookworm-slim AS dashboard
WORKDIR /src/dashboard
COPY dashboard/package.json dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY dashboard/ ./
RUN npm run build

# --- stage 2: wheels of Headrace and its dependencies --------------------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY api/ api/
COPY activities/ activities/
COPY db/ db/
COPY temporal_workflows/ temporal_workflows/
COPY worker/ worker/
COPY express/ express/
RUN pip wheel --wheel-dir /wheels .

# --- stage 3: the runtime ----------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 HEADRACE_ENVIRONMENT=production HEADRACE_HOST=0.0.0.0
# A fixed UID/GID: Kubernetes checks runAsNonRoot against a numeric user (deploy/k8s).
RUN groupadd --system --gid 10001 headrace \
    && useradd --system --uid 10001 --gid headrace --home-dir /app headrace
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels headrace && rm -rf /wheels
# The API serves the dashboard from <site-packages>/dashboard/dist (next to the api package).
COPY --from=dashboard /src/dashboard/dist /opt/headrace/dashboard/dist
RUN ln -s /opt/headrace/dashboard \
    "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/dashboard"
WORKDIR /app
RUN chown headrace:headrace /app
USER headrace
EXPOSE 8000 9464 9465
CMD ["headrace", "api"]
