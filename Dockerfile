# speechbridge in a container: Debian with Node 20, the Debian packages from the same script CI
# runs, production dependencies only, a non-root user, the model cache on a volume.
#   docker build -t speechbridge .
#   docker run -p 8080:8080 -v speechbridge-models:/var/cache/speechbridge speechbridge
# compose.yaml runs two of these behind HAProxy with Redis (docs/deployment.md).
FROM node:20-bookworm-slim

WORKDIR /app

COPY scripts/install-system-packages.sh scripts/
RUN bash scripts/install-system-packages.sh --runtime && rm -rf /var/lib/apt/lists/*

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY bin bin
COPY src src
COPY scripts/build.ts scripts/
# The sources compiled to JavaScript in dist/ (esbuild, a production dependency), so a command
# starts without tsx's loader; bin/speechbridge.js runs the sources through tsx if dist/ is absent.
RUN npm run build
COPY web web
COPY LICENSE README.md ./

# Whisper models are downloaded here on first use and kept across restarts and replicas.
ENV MODEL_CACHE_DIR=/var/cache/speechbridge/models \
    SERVER_NAME=0.0.0.0 \
    SERVER_PORT=8080 \
    LOG_FORMAT=json \
    NODE_ENV=production
RUN mkdir -p /var/cache/speechbridge/models && chown -R node:node /var/cache/speechbridge
VOLUME ["/var/cache/speechbridge"]

USER node
EXPOSE 8080

# Alive = answers HTTP (GET /healthz). The slim image has no curl: Node's fetch does it.
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SERVER_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# SIGTERM drains sessions (1001 to clients) before exiting.
STOPSIGNAL SIGTERM
CMD ["node", "bin/speechbridge.js", "serve"]
