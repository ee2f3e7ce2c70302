#!/usr/bin/env bash
# Builds the local test services (FerretDB wrapper, nats-server) into a per-user cache, once.
# Needs only Go and the Go module proxy; the test setup runs this itself when nothing else
# (MONGO_URL/NATS_URL, a Docker engine) provides MongoDB and NATS.
#
# Result (stable paths the test harness reads):
#   $CACHE/bin/ferretdb      -> ferretdb-<hash of main.go, go.mod, go.sum>
#   $CACHE/bin/nats-server      nats-server $NATS_VERSION
set -euo pipefail

NATS_VERSION=v2.10.29

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${IM_TEST_SERVICES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/im-server/test-services}
bin=$cache/bin
mkdir -p "$bin"

# Two test runs (or CI and a developer) may build at once; the second waits, then finds it done.
exec 9>"$cache/.build.lock"
flock 9

go_cmd() {
  local go=${GO:-}
  if [[ -z $go ]]; then
    go=$(command -v go || true)
    [[ -z $go && -x /usr/local/go/bin/go ]] && go=/usr/local/go/bin/go
  fi
  if [[ -z $go ]]; then
    echo "build.sh: Go is needed to build the test services (https://go.dev/dl/), or set MONGO_URL and NATS_URL" >&2
    exit 1
  fi
  # Pure-Go builds: no C toolchain needed, and the result does not depend on one.
  CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false" "$go" "$@"
}

# FerretDB wrapper: the binary name carries a hash of its sources, so an edit rebuilds it.
src=$here/ferretdb
hash=$(cat "$src/main.go" "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-16)
ferret=$bin/ferretdb-$hash
if [[ -x $ferret ]]; then
  echo "ferretdb: up to date ($ferret)"
else
  echo "ferretdb: building $ferret (first build takes a few minutes)"
  start=$SECONDS
  (cd "$src" && go_cmd build -trimpath -o "$ferret.tmp" .)
  mv -f "$ferret.tmp" "$ferret"
  echo "ferretdb: built in $((SECONDS - start)) s"
fi
ln -sfn "ferretdb-$hash" "$bin/ferretdb"

# nats-server: `go install` straight from the module proxy, skipped when this version is there.
nats=$bin/nats-server
have=$("$nats" --version 2>/dev/null || true)
if [[ $have == *"$NATS_VERSION"* ]]; then
  echo "nats-server: $NATS_VERSION already installed ($nats)"
else
  echo "nats-server: installing $NATS_VERSION into $bin${have:+ (replacing: $have)}"
  start=$SECONDS
  # Outside any module, so the repo's own files cannot influence the install.
  (cd "$cache" && GOBIN=$bin go_cmd install "github.com/nats-io/nats-server/v2@$NATS_VERSION")
  echo "nats-server: installed in $((SECONDS - start)) s"
fi
