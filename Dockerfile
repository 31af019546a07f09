# Not exercised here (no Docker engine on the build machines): provided for users with Docker. Checked by
# test/docker-files.test.ts (pinned images, the runtime user owning the data directory, the healthcheck on /ready,
# the node flags of `npm start`); docker-compose.yml is also checked with `docker-compose config`.
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:20.20.2-bookworm-slim
ENV NODE_ENV=production \
    CDS_DATA_DIR=/app/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY cds-services ./cds-services
COPY scripts/healthcheck.js ./scripts/healthcheck.js
# /app belongs to root: the file store's directory (replay cache, audit, feedback, issued cards, assertions) must
# belong to the runtime user, or its first mkdir fails. Mount a volume there to keep it across containers.
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
USER node
EXPOSE 3000
# GET /ready: the policies are loaded and the store accepts writes (scripts/healthcheck.js; the image has no curl).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "scripts/healthcheck.js"]
# The node flags of `npm start` (package.json's start script), with node itself as PID 1: SIGTERM (docker stop)
# reaches the service, which finishes its in-flight requests and exits.
CMD ["node", "--max-semi-space-size=8", "dist/index.js"]
