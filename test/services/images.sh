#!/usr/bin/env bash
# Builds container images of the local test services from the binaries build.sh makes, for
# engines that cannot pull the official ones (no registry here): the static Go binary on a
# minimal Debian (docker/local-base.sh --debian), whose bash lets compose check their ports.
# Tags (what IM_TEST_MONGO_IMAGE / IM_TEST_NATS_IMAGE select):
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
  local out
  out=$(docker build --quiet --force-rm -t "$tag" -f - "$ctx" 2>&1 <<DOCKERFILE
FROM $base
COPY $name /$name
LABEL im-server.test.flavour=$flavour
ENTRYPOINT ["/$name"]
DOCKERFILE
  ) || {
    echo "$out" >&2
    return 1
  }
  echo "$tag"
}

bash "$here/build.sh" >/dev/null
base=$(bash "$here/../../docker/local-base.sh" --debian)
build im-server-test/ferretdb:local "$cache/bin/ferretdb" ferretdb ferretdb
build im-server-test/nats-server:local "$cache/bin/nats-server" nats-server nats
