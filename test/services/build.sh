#!/usr/bin/env bash
# Builds the local test services (FerretDB wrapper, nats-server) and the client tools the
# contract tests use into a per-user cache, once. Needs Go and the Go module proxy (and
# python3 with PyPI for the Python client); the test setup runs this at every start.
#
# Result (stable paths the test harness reads):
#   $CACHE/bin/ferretdb      -> ferretdb-<hash of main.go, go.mod, go.sum>
#   $CACHE/bin/nats-server      nats-server $NATS_VERSION
#   $CACHE/bin/grpcurl, protoc-gen-go, protoc-gen-connect-go -> ../go-tools/<name>-<version>/
#   $CACHE/python            -> python-<hash of examples/python/requirements.txt> (a venv)
set -euo pipefail

NATS_VERSION=v2.10.29
GRPCURL_VERSION=v1.9.4
# The Go code generators match the runtime versions in examples/go/go.mod.
PROTOBUF_GO_VERSION=v1.36.12
CONNECT_GO_VERSION=v1.21.1

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

# Go tools, one directory per version, installed straight from the module proxy.
go_tool() {
  local name=$1 package=$2 version=$3
  local dir=$cache/go-tools/$name-$version
  if [[ -x $dir/$name ]]; then
    echo "$name: $version already installed"
  else
    echo "$name: installing $version"
    local start=$SECONDS
    (cd "$cache" && GOBIN=$dir go_cmd install "$package@$version")
    echo "$name: installed in $((SECONDS - start)) s"
  fi
  ln -sfn "../go-tools/$name-$version/$name" "$bin/$name"
}
go_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
go_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOBUF_GO_VERSION"
go_tool protoc-gen-connect-go connectrpc.com/connect/cmd/protoc-gen-connect-go "$CONNECT_GO_VERSION"

# Python client: a venv with the pinned grpcio and grpcio-tools; a new requirements file
# makes a new venv.
requirements=$here/../../examples/python/requirements.txt
venv=$cache/python-$(sha256sum <"$requirements" | cut -c1-16)
if [[ -f $venv/.complete ]]; then
  echo "python venv: up to date ($venv)"
else
  echo "python venv: creating $venv"
  start=$SECONDS
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  touch "$venv/.complete"
  echo "python venv: created in $((SECONDS - start)) s"
fi
ln -sfn "$(basename "$venv")" "$cache/python"
