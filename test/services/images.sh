#!/usr/bin/env bash
# Builds container images of the local test services from the binaries build.sh makes, for
# engines that cannot pull the official ones (no registry here): FROM scratch, the static
# Go binary alone. Tags (what IM_TEST_MONGO_IMAGE / IM_TEST_NATS_IMAGE select):
#   im-server-test/ferretdb:local      FerretDB wrapper; takes FerretDB's command line
#   im-server-test/nats-server:local   nats-server; takes the official nats image's command line
# Needs DOCKER_HOST (or the default engine) answering; prints the two tags.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${IM_TEST_SERVICES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/im-server/test-services}

build() {
  local tag=$1 binary=$2 name=$3 flavour=$4
  local ctx
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' RETURN
  cp "$(readlink -f "$binary")" "$ctx/$name"
  mkdir -m 1777 "$ctx/tmp"
  docker build --quiet --force-rm -t "$tag" -f - "$ctx" >/dev/null <<DOCKERFILE
FROM scratch
COPY $name /$name
COPY tmp /tmp
LABEL im-server.test.flavour=$flavour
ENTRYPOINT ["/$name"]
DOCKERFILE
  echo "$tag"
}

bash "$here/build.sh" >/dev/null
build im-server-test/ferretdb:local "$cache/bin/ferretdb" ferretdb ferretdb
build im-server-test/nats-server:local "$cache/bin/nats-server" nats-server nats
