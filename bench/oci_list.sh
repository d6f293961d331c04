#!/usr/bin/env bash
# Benchmark: listing an OCI registry with tagsweep vs a loop of skopeo.
#
# Starts Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1 with its
# data on /dev/shm when there is one, populates REPOS repositories
# (bench/app-000 …) with TAGS build tags each through the HTTP API (curl), then
# times:
#   1. skopeo:   for r in repos; do skopeo list-tags --tls-verify=false docker://127.0.0.1:PORT/$r; done
#   2. tagsweep: `tagsweep audit` of a manifest listing the same repositories,
#                with a builds.pattern that matches no tag (listing only: what
#                skopeo does), best of RUNS;
#   3. tagsweep: the full audit (pattern matching the build tags: each build
#                tag's manifest and config are read too), best of RUNS;
# and prints the times and the ratio. Needs: docker-registry, skopeo, curl,
# sha256sum, cargo. Usage: bench/oci_list.sh   (REPOS=200 TAGS=5 RUNS=3 J=16)
set -euo pipefail
cd "$(dirname "$0")/.."

REPOS=${REPOS:-200}
TAGS=${TAGS:-5}
RUNS=${RUNS:-3}
J=${J:-16}

for tool in docker-registry skopeo curl sha256sum; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install -y docker-registry skopeo curl)" >&2; exit 2; }
done

cargo build --release --quiet
BIN=$PWD/target/release/tagsweep

if [ -d /dev/shm ]; then DIR=$(mktemp -d -p /dev/shm tagsweep-bench.XXXXXX); else DIR=$(mktemp -d); fi
REG_PID=
cleanup() {
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

# A free port: one that nothing answers on.
for _ in $(seq 50); do
  PORT=$(( 20000 + RANDOM % 20000 ))
  curl -s -o /dev/null --max-time 0.2 "http://127.0.0.1:$PORT/" || break
done

cat > "$DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DIR/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
  redirect:
    disable: true
http:
  addr: 127.0.0.1:$PORT
  secret: tagsweep-bench
health:
  storagedriver:
    enabled: false
EOF
docker-registry serve "$DIR/config.yml" > "$DIR/registry.log" 2>&1 &
REG_PID=$!
B=http://127.0.0.1:$PORT
for _ in $(seq 200); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$B/v2/")" = 200 ] && break
  sleep 0.05
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/v2/")" = 200 ] || { cat "$DIR/registry.log"; exit 2; }

# Populate: per repository one config blob (amd64), then TAGS manifests whose
# creation-time annotation makes each digest unique.
populate_repo() {
  local repo=$1 cfg digest size loc tag m
  cfg=$(printf '{"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z","config":{"Labels":{"repo":"%s"}}}' "$repo")
  digest=sha256:$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
  size=${#cfg}
  loc=$(curl -s -D - -o /dev/null -X POST "$B/v2/$repo/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  curl -s -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "$cfg" "$loc&digest=$digest"
  for i in $(seq 1 "$TAGS"); do
    tag=b-$i
    m='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'$digest'","size":'$size'},"layers":[],"annotations":{"org.opencontainers.image.created":"2026-01-0'$(( i % 9 + 1 ))'T00:00:00Z","bench":"'$repo:$tag'"}}'
    curl -s -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data "$m" "$B/v2/$repo/manifests/$tag"
  done
  curl -s -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data "$m" "$B/v2/$repo/manifests/latest"
}
export -f populate_repo
export B TAGS
REPO_NAMES=$(for i in $(seq 0 $((REPOS - 1))); do printf 'app-%03d\n' "$i"; done)
t0=$(date +%s%N)
printf '%s\n' $REPO_NAMES | sed 's|^|bench/|' | xargs -P 4 -I{} bash -c 'populate_repo "$@"' _ {}
t1=$(date +%s%N)
echo "populated $REPOS repositories x $((TAGS + 1)) tags in $(( (t1 - t0) / 1000000 )) ms"

images=$(printf '%s\n' $REPO_NAMES | paste -sd, -)
manifest() {
  printf 'registry: %s\nnamespace: bench\nbuilds:\n  pattern: %s\n  grace: 2h\nimages: [%s]\n' "$B" "$1" "$images"
}
manifest "'^nomatch$'" > "$DIR/list.yaml"
manifest "'^b-\\d+$'" > "$DIR/full.yaml"

ms() { echo $(( ($2 - $1) / 1000000 )); }

# 1. skopeo, one process per repository.
t0=$(date +%s%N)
for r in $REPO_NAMES; do
  skopeo list-tags --tls-verify=false "docker://127.0.0.1:$PORT/bench/$r" > /dev/null
done
t1=$(date +%s%N)
SKOPEO=$(ms "$t0" "$t1")

best() { # manifest → "best wall time (ms) over RUNS, requests of a run"
  local best=999999999 t0 t1 out
  for _ in $(seq "$RUNS"); do
    t0=$(date +%s%N)
    out=$("$BIN" audit -j "$J" --format json -m "$1" || true)
    t1=$(date +%s%N)
    case "$out" in *'"summary"'*) ;; *) echo "bench: tagsweep audit failed: $out" >&2; exit 1 ;; esac
    [ "$(ms "$t0" "$t1")" -lt "$best" ] && best=$(ms "$t0" "$t1")
  done
  echo "$best $(printf '%s' "$out" | sed -n 's/.*"requests": *\([0-9]*\).*/\1/p' | head -1)"
}
read -r LIST LIST_REQS <<< "$(best "$DIR/list.yaml")"
read -r FULL FULL_REQS <<< "$(best "$DIR/full.yaml")"
"$BIN" audit --format json -m "$DIR/full.yaml" | grep -q '"complete": '"$TAGS"',' \
  || { echo "bench: the full audit did not find $TAGS complete builds" >&2; exit 1; }

echo "skopeo list-tags loop ($REPOS processes):          $SKOPEO ms"
echo "tagsweep audit, listing only (-j $J, best of $RUNS): $LIST ms  ($LIST_REQS requests)"
echo "tagsweep audit, full (-j $J, best of $RUNS):         $FULL ms  ($FULL_REQS requests: + every build tag's manifest)"
awk -v s="$SKOPEO" -v l="$LIST" -v f="$FULL" 'BEGIN {
  printf "ratio skopeo / tagsweep listing: %.1fx\n", s / (l > 0 ? l : 1);
  printf "ratio skopeo / tagsweep full audit: %.1fx\n", s / (f > 0 ? f : 1) }'
