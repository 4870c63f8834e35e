# One image for every role; docker-compose.yml picks the role with the command.
# scripts/docker-build-check.sh replays these steps without a Docker engine (the test suite
# runs it), so keep to WORKDIR, ENV, ARG, COPY and RUN in the build stage.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.image.json ./
COPY src ./src
# Only the product is compiled (tsconfig.image.json): no benchmarks, no tests.
RUN npx tsc -p tsconfig.image.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The CLI reads its version from package.json, the Avro schema from schemas/, the load
# generator's templates and `winchester dev`'s sample replay from data/.
COPY package.json ./
COPY topologies ./topologies
COPY schemas ./schemas
COPY etc ./etc
COPY data ./data
USER node
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["--help"]
