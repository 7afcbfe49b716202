#!/usr/bin/env bash
# Builds wxtoken's image from the Dockerfile with podman and checks it: the
# container starts as a user other than root on a read-only root
# filesystem, answers /healthz and /readyz from the host, passes its own
# HEALTHCHECK (`wxtoken healthcheck`, no curl in the image), and prints the
# version and commit it was built with.
#
#   etc/container/check.sh            # from the repository's root, as root
#
# What it needs, and how it gets it on Debian (bookworm):
#   - podman, and runc as its runtime: podman's default runtime, crun,
#     refuses a machine whose cgroup v2 hierarchy holds controllers while
#     v1 is mounted too ("cgroups in hybrid mode not supported"). It
#     installs both (apt-get install podman runc) when podman is missing.
#   - a Go toolchain image. Where no container registry can be reached
#     (GO_IMAGE unset), it makes one from the local toolchain
#     ($(go env GOROOT)) and busybox-static, and fills the build's module
#     cache from the local one, so that nothing is downloaded. With
#     GO_IMAGE=golang:1.26-bookworm it builds as anyone would.
# Limits above this machine's (open files, processes) are not asked of the
# container: podman's defaults exceed them and the runtime refuses.
set -euo pipefail
cd "$(dirname "$0")/../.."

image=${IMAGE:-localhost/wxtoken:check}
export DEBIAN_FRONTEND=noninteractive
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
if [ -z "${GO_IMAGE:-}" ] && [ ! -x /bin/busybox ]; then need+=(busybox-static); fi
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Without systemd, podman cannot schedule the periodic health checks and
# says so at every start; the check runs the HEALTHCHECK itself below.
pod() { podman --runtime "$(command -v runc)" "$@" 2> >(grep -v 'systemd connection' >&2); }

work=$(mktemp -d)
name=wxtoken-check-$$
cleanup() {
  pod rm -f "$name" >/dev/null 2>&1 || true
  pod volume rm -f "$name-data" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

build_args=()
if [ -z "${GO_IMAGE:-}" ]; then
  # A toolchain image of the local Go: its tree, a static busybox for the
  # shell and the few tools the Dockerfile's RUN lines use, the CA
  # certificates the build stage copies into the image, and the modules of
  # go.sum from the local cache, so that `go mod download` asks no proxy.
  # Named after the Go version and go.sum, it is made once for both.
  GO_IMAGE=localhost/wxtoken-go:$(go env GOVERSION)-$(sha256sum go.sum | cut -c1-12)
  if ! podman image exists "$GO_IMAGE"; then
    echo "making $GO_IMAGE from $(go env GOROOT)"
    root="$work/goroot"
    mkdir -p "$root/usr/local" "$root/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/go/pkg/mod/cache"
    cp -a "$(go env GOROOT)" "$root/usr/local/go"
    cp /bin/busybox "$root/bin/busybox"
    for tool in sh mkdir chmod chown cp echo cat ls rm; do ln -s busybox "$root/bin/$tool"; done
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    chmod 1777 "$root/tmp"
    go mod download
    local_cache=$(go env GOMODCACHE)
    GOFLAGS=-mod=mod GOMODCACHE="$root/go/pkg/mod" GOPROXY="file://$local_cache/cache/download" GOSUMDB=off \
      go mod download
    tar -C "$root" -c . | pod import \
      --change 'ENV PATH=/usr/local/go/bin:/bin' \
      --change 'ENV GOPATH=/go' \
      --change 'ENV GOPROXY=off' \
      --change 'ENV GOFLAGS=-mod=mod' \
      --change 'ENV GOTOOLCHAIN=local' \
      - "$GO_IMAGE" >/dev/null
  fi
fi
version=check-$(date -u +%Y%m%d)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
echo "building $image with $GO_IMAGE"
# Docker's format, which keeps HEALTHCHECK (the OCI format has no such field).
pod build --format docker --pull=never -q -t "$image" \
  --build-arg GO_IMAGE="$GO_IMAGE" --build-arg VERSION="$version" \
  --build-arg COMMIT="$commit" --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" . >/dev/null

# A config for a server that calls no one: its upstream is a closed port
# on the container's own loopback.
cat > "$work/wxtoken.yaml" <<'YAML'
listen: 0.0.0.0:8080
store: {driver: bolt, path: /data/wxtoken.db}
upstream: {base_url: "http://127.0.0.1:9", fallback_base_urls: [], timeout: 1s}
apps:
  - {appid: wx0123456789abcdef, secret_env: WX_SHOP_SECRET}
clients:
  - {name: check, key_sha256: "c331b9f8aff2fc4602b6eac1ca2b1f6187f3975fa613aae5f656ee4d5d379355", apps: ["*"]}
YAML
chmod 0644 "$work/wxtoken.yaml"

ulimits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=1024:1024")
fail() { echo "check failed: $*" >&2; pod logs "$name" >&2 2>&1 || true; exit 1; }

out=$(pod run --rm "${ulimits[@]}" --health-interval disable "$image" version) || fail "wxtoken version"
echo "$out"
case "$out" in
  *"wxtoken $version (commit ${commit:0:12}"*) ;;
  *) fail "the version line does not carry $version and commit ${commit:0:12}" ;;
esac

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)
pod run -d --name "$name" "${ulimits[@]}" --health-interval disable --read-only --tmpfs /tmp \
  -v "$work/wxtoken.yaml:/etc/wxtoken/wxtoken.yaml:ro" -v "$name-data:/data" \
  -e WX_SHOP_SECRET=not-a-real-secret -p "127.0.0.1:$port:8080" "$image" >/dev/null || fail "podman run"

ok=
for _ in $(seq 100); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || fail "/healthz did not answer 200 on 127.0.0.1:$port within 20 s"
echo "/healthz: $(curl -fsS "http://127.0.0.1:$port/healthz")"
echo "/readyz: $(curl -fsS "http://127.0.0.1:$port/readyz")" || fail "/readyz"

user=$(pod exec "$name" /usr/local/bin/wxtoken healthcheck --config /etc/wxtoken/wxtoken.yaml) || fail "wxtoken healthcheck in the container"
echo "healthcheck in the container: $user"
pod healthcheck run "$name" || fail "the image's HEALTHCHECK"
uid=$(pod inspect -f '{{.Config.User}}' "$name")
[ "$uid" = "65532:65532" ] || fail "the container runs as $uid"
pod exec "$name" /usr/local/bin/wxtoken healthcheck --url http://127.0.0.1:8080 --ready >/dev/null || fail "/readyz in the container"
# The store was written to the volume, by the image's user.
pod volume inspect "$name-data" >/dev/null
echo "container check passed: $image runs as $uid on a read-only root, /healthz and /readyz answer 200"
