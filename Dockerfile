# syntax=docker/dockerfile:1
# chorus: one image for both processes; docker-compose.yml picks the command per service.
# There is no build step: Node 24 runs the TypeScript sources directly (type stripping).

# --- dependencies: production only (the `node` npm package and the test tools are devDependencies) ---
FROM node:24-slim AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# msgpackr-extract (optional, via bullmq) is allowed to run its install script by `allowScripts` in
# package.json. On linux x64/arm64/arm a prebuilt binary comes from @msgpackr-extract/*; elsewhere the
# script tries to compile, fails (no build tools in a slim image), npm drops the optional package and
# msgpackr falls back to its pure-JS decoder. No compiler is needed either way.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund

# --- runtime ---
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the `node` user that runs the processes.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bot ./bot
COPY commands ./commands
COPY core ./core
COPY personas ./personas
COPY workers ./workers
COPY scripts ./scripts
COPY protocols ./protocols
COPY schema ./schema
# The playground (`docker compose --profile playground up playground`): its page and the local
# Discord it runs on.
COPY playground ./playground
COPY local-discord ./local-discord
# The default transcript database (SQLite) lives here; compose mounts a volume on it.
RUN mkdir -p /app/data && chown node:node /app/data
# Node's compile cache keeps the stripped and compiled sources, so a process starts without loading
# the TypeScript stripper (about 20 MB less memory each) and faster. Warmed here: each entry point
# loads its modules and stops at the missing configuration; the rest is added on first use. The
# cache is kept per set of V8 flags, so the gateway and the worker are warmed with the flags compose
# (and the CMD) give them.
ENV NODE_COMPILE_CACHE=/app/.cache/node
RUN for entry in "--max-semi-space-size=1 --max-old-space-size=512 --optimize-for-size bot/main.ts" "--max-semi-space-size=8 workers/main.ts" scripts/register-commands.ts scripts/interview.ts scripts/export.ts scripts/report.ts; do \
      env -i PATH="$PATH" NODE_COMPILE_CACHE="$NODE_COMPILE_CACHE" node $entry >/dev/null 2>&1 || true; \
    done && chown -R node:node /app/.cache
USER node
# PERSONAS_DIR defaults to `personas`, relative to the working directory /app.
CMD ["node", "--max-semi-space-size=8", "workers/main.ts"]
