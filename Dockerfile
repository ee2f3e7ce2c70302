# The server's image: build with the full toolchain, run on a small runtime stage.
#   docker build -t im-server .
# NODE_IMAGE is any image with Node (the LTS the project pins, see package.json) and npm;
# without a registry, docker/local-base.sh makes one from Debian packages.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off: the `node` dependency would install a second Node runtime; this image's Node
# builds and runs everything (and there is nothing else to compile).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/node node_modules/node-* node_modules/.bin/node dist/.tsbuildinfo

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Any unprivileged uid works: the server writes nothing to disk.
USER 10001:10001
EXPOSE 8080
# The gRPC health service over Connect's JSON; node, since the image has no curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/grpc.health.v1.Health/Check`,{method:'POST',headers:{'content-type':'application/json'},body:'{}'}).then(r=>r.json()).then(b=>process.exit(b.status==='SERVING'?0:1),()=>process.exit(1))"]
# node is PID 1: the server's own SIGTERM/SIGINT handlers drain it (`docker stop`).
ENTRYPOINT ["node", "--enable-source-maps", "dist/src/main.js"]
