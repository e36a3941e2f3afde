#!/usr/bin/env bash
# scripts/deps.sh — install everything eco-base needs to build, run and test (`make deps`).
#   scripts/deps.sh           install what is missing (idempotent, re-runnable after a failure)
#   scripts/deps.sh --check   exit 0 iff everything is present; no network, no changes
#   scripts/deps.sh --only-faiss   only the FAISS C API (needs libfaiss-dev, dpkg-dev, g++; image build stages)
# Runs as root on Debian bookworm. Downloads and builds go to a per-machine cache outside the
# checkout, ECO_TOOLS_DIR (default ~/.cache/eco-base), linked as <checkout>/.tools:
#   bin/ (Go tools)  faiss/{include,lib,link.txt,cflags.txt}  kafka/libs/  venv/  wheels/
#   go/ (GOPATH, module and build caches)  m2/ (Maven repo)  src/  stamps/  logs/
# Pins: Debian packages and Go tools below; Kafka in scripts/deps/kafka-pom.xml; Python in
# tests/requirements.txt. Each step writes a stamp holding its pins, so a pin change redoes it.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T=${ECO_TOOLS_DIR:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache/eco-base}
T=${T%/}; [ -d "$T" ] && T=$(cd "$T" && pwd)
case "$T" in /*) ;; *) echo "deps: ECO_TOOLS_DIR must be an absolute path" >&2; exit 2 ;; esac
case "$T/" in "$ROOT"/*) echo "deps: ECO_TOOLS_DIR must be outside the checkout" >&2; exit 2 ;; esac
export ECO_TOOLS_DIR=$T
APT_LOCK_TIMEOUT=${ECO_APT_LOCK_TIMEOUT:-900}   # seconds to wait for another apt/dpkg
KAFKA_POM=$ROOT/scripts/deps/kafka-pom.xml
PY_REQ=$ROOT/tests/requirements.txt
ENGINE_REQ=$ROOT/tests/requirements-engine.txt   # the real engine (llama-cpp-python) for tests/real_engine
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"

APT_PKGS=(build-essential pkg-config clang clang-format libclang-rt-14-dev libh2o-evloop-dev
  libgrpc-dev protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libpq-dev libhiredis-dev
  librdkafka-dev libjansson-dev libyaml-dev libssl-dev libargon2-dev libcmocka-dev
  libcurl4-openssl-dev libnghttp2-dev libfaiss-dev libopenblas-dev libgomp1 postgresql
  redis-server nginx-light wrk prometheus openjdk-17-jre-headless maven python3-venv dpkg-dev
  procps iproute2 curl ca-certificates unzip)
SERVICES=(postgresql redis-server nginx prometheus)   # system instances we never leave running

GO_VERSION=1.26.8   # minimum Go (conftest v0.71.1 needs >= 1.26.8); fetched if the local go is older
GO_TC_SHA256=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7  # linux-amd64 zip
# name|package@version|-ldflags version stamping|version argument
GO_TOOLS=(
  "conftest|github.com/open-policy-agent/conftest@v0.71.1|-X github.com/open-policy-agent/conftest/internal/version.Version=0.71.1|--version"
  "opa|github.com/open-policy-agent/opa@v1.22.2||version"
  "helm|helm.sh/helm/v3/cmd/helm@v3.22.0|-X helm.sh/helm/v3/internal/version.version=v3.22.0 -X helm.sh/helm/v3/internal/version.gitTreeState=clean|version --short"
  "ghz|github.com/bojand/ghz/cmd/ghz@v0.120.0|-X main.version=0.120.0|--version"
  "vegeta|github.com/tsenart/vegeta/v12@v12.13.0|-X main.Version=v12.13.0|-version"
  "kubeconform|github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0|-X main.version=v0.8.0|-v"
  "actionlint|github.com/rhysd/actionlint/cmd/actionlint@v1.7.12|-X github.com/rhysd/actionlint.version=v1.7.12|-version"
)
GO_JOBS=2           # concurrent `go install`s (each already compiles on all cores)
FAISS_C_REV=1       # bump to force a rebuild of libfaiss_c.a

CHECK=0 MISSING=0 STEP=init MADE_POLICY_RC=0 GOPID= ONLY=
case "${1:-}" in
  --check) CHECK=1 ;;
  --only-faiss) ONLY=faiss ;;  # just libfaiss_c.a (an image's build stage: index-service's Dockerfile)
  "") ;;
  *) echo "usage: $0 [--check | --only-faiss]" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------- helpers
now() { local t=${EPOCHREALTIME//[!0-9]/}; echo "${t#0}"; }          # microseconds
secs() { local d=$(( $(now) - $1 )); printf '%d.%d' $((d / 1000000)) $((d / 100000 % 10)); }
say() { echo "deps: $*"; }
die() { echo "deps: ERROR [$STEP] $*" >&2; exit 1; }
step() { STEP=$1; local t0; t0=$(now); "$2"; say "$1 $(secs "$t0")s"; }
missing() { say "missing [$STEP]: $*"; MISSING=1; }
stamp_ok() { [ -f "$T/stamps/$1" ] && [ "$(head -n1 "$T/stamps/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$T/stamps"; printf '%s\n%s\n' "$2" "${3:-}" > "$T/stamps/$1.tmp"; mv "$T/stamps/$1.tmp" "$T/stamps/$1"; }
sha() { cat "$@" | sha256sum | cut -c1-16; }
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
kill_tree() {   # freeze first so the parent cannot spawn more children while we collect them
  local c kids; kill -STOP "$1" 2>/dev/null || return 0
  kids=$(pgrep -P "$1" || true); kill -TERM "$1" || true; kill -CONT "$1" || true
  for c in $kids; do kill_tree "$c"; done
}
on_exit() {
  local rc=$?
  [ "$MADE_POLICY_RC" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ -n "$GOPID" ] && kill_tree "$GOPID"   # failed elsewhere: stop the background Go builds
  if [ $rc -ne 0 ] && [ "$CHECK" = 0 ]; then
    echo "deps: FAILED in step '$STEP' (exit $rc); logs in $T/logs; fix and re-run scripts/deps.sh" >&2
  fi
}
trap on_exit EXIT

# apt-get that waits (bounded) for another apt/dpkg holding the lock and repairs an interrupted dpkg.
apt_get() {
  local deadline=$((SECONDS + APT_LOCK_TIMEOUT)) rc err=$T/logs/apt.err
  while :; do
    rc=0; apt-get -q -o DPkg::Lock::Timeout=60 "$@" >>"$T/logs/apt.log" 2>"$err" || rc=$?
    [ $rc = 0 ] && return 0
    if grep -qiE 'could not get lock|unable to acquire|is another process using it' "$err" &&
       [ $SECONDS -lt $deadline ]; then
      say "waiting for another apt/dpkg to finish..."; sleep 5
    elif grep -q 'dpkg --configure -a' "$err"; then
      say "repairing an interrupted dpkg run"; dpkg --configure -a >>"$T/logs/apt.log" 2>&1 || return 1
    else
      tail -n 20 "$err" >&2; return $rc
    fi
  done
}

# ---------------------------------------------------------------- layout
layout() {
  mkdir -p "$T"/{stamps,logs,bin,src}
  local link=$ROOT/.tools
  if [ -L "$link" ] || [ ! -e "$link" ]; then
    [ "$(readlink "$link" 2>/dev/null)" = "$T" ] || ln -sfn "$T" "$link"
  else
    die "$link exists and is not a symlink; move it away (tools live in $T)"
  fi
  local gi=$ROOT/.gitignore line
  touch "$gi"
  for line in .tools build .run; do   # also accept /x, x/ and /x/ forms already present
    grep -qxE "/?${line//./\\.}/?" "$gi" || { [ -s "$gi" ] && [ -n "$(tail -c1 "$gi")" ] && echo >> "$gi"; echo "$line$([ "$line" = .tools ] || echo /)" >> "$gi"; }
  done
}

# ---------------------------------------------------------------- a. Debian packages
deb_src_entry() {   # deb-src for the Debian mirror the machine already uses (for `apt-get source faiss`)
  local f=/etc/apt/sources.list.d/eco-base-src.sources uri suite
  [ -f "$f" ] && return 0
  uri=$(grep -hoE 'https?://[^ ]*/debian/?([[:space:]]|$)' /etc/apt/sources.list.d/*.sources \
        /etc/apt/sources.list 2>/dev/null | head -n1 | tr -d '[:space:]' || true)
  suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "${uri:-http://deb.debian.org/debian}" "$suite" > "$f"
}

stop_services() {   # our orchestrator starts its own PostgreSQL/Redis/nginx/Prometheus
  local s f
  if [ -d /run/systemd/system ]; then
    systemctl disable --now "${SERVICES[@]}" >/dev/null 2>&1 || true
  fi
  for s in "${SERVICES[@]}"; do
    [ -x "/etc/init.d/$s" ] && "/etc/init.d/$s" stop >/dev/null 2>&1 || true
  done
  for f in /run/redis/redis-server.pid /run/nginx.pid /run/postgresql/*.pid /run/prometheus/*.pid; do
    [ -f "$f" ] && kill "$(head -n1 "$f")" 2>/dev/null || true
  done
  for f in /etc/postgresql/*/*/start.conf; do   # package clusters: never auto-start
    [ ! -f "$f" ] || sed -i 's/^auto$/manual/' "$f"
  done
}

debian() {
  local -A have=() ; local p todo=() name st
  while read -r name st; do have[$name]=$st; done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${APT_PKGS[@]}" 2>/dev/null || true)
  for p in "${APT_PKGS[@]}"; do [ "${have[$p]:-}" = installed ] || todo+=("$p"); done
  [ ${#todo[@]} = 0 ] && return 0
  [ $CHECK = 1 ] && { missing "${todo[*]}"; return 0; }
  [ "$(id -u)" = 0 ] || die "need root to install: ${todo[*]}"
  say "installing ${#todo[@]} Debian packages: ${todo[*]}"
  deb_src_entry
  if [ ! -e /usr/sbin/policy-rc.d ]; then   # keep services from starting during the install
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; MADE_POLICY_RC=1
  fi
  apt_get update || die "apt-get update failed"
  apt_get install -y --no-install-recommends "${todo[@]}" || die "apt-get install failed (see $T/logs/apt.log)"
  [ "$MADE_POLICY_RC" = 1 ] && { rm -f /usr/sbin/policy-rc.d; MADE_POLICY_RC=0; }
  stop_services
}

# ---------------------------------------------------------------- b. FAISS C API
faiss_c() {
  local ver key out=$T/faiss
  ver=$(dpkg-query -W -f='${source:Version}' libfaiss-dev 2>/dev/null) || { missing "libfaiss-dev"; return 0; }
  key="faiss-c $ver rev$FAISS_C_REV"
  stamp_ok faiss "$key" && [ -f "$out/lib/libfaiss_c.a" ] && return 0
  [ $CHECK = 1 ] && { missing "libfaiss_c.a for faiss $ver"; return 0; }
  local src=$T/src/faiss-$ver dl=$T/src/dl-faiss
  if [ ! -f "$src/c_api/faiss_c.h" ]; then
    deb_src_entry
    apt-cache showsrc faiss 2>/dev/null | grep -x "Version: $ver" >/dev/null || apt_get update ||
      die "apt-get update failed"
    rm -rf "$dl" "$src"; mkdir -p "$dl"
    (cd "$dl" && apt-get source -q --download-only "faiss=$ver") >>"$T/logs/faiss.log" 2>&1 ||
      die "apt-get source faiss=$ver failed (see $T/logs/faiss.log)"
    dpkg-source -x "$dl"/faiss_*.dsc "$src" >>"$T/logs/faiss.log" 2>&1 || die "dpkg-source -x failed"
    rm -rf "$dl"
  fi
  rm -rf "$out"; mkdir -p "$out"/{obj,lib,include/faiss/c_api}
  # The C API: c_api/*.cpp plus impl/ and utils/ (the build in c_api/CMakeLists.txt, minus gpu/).
  (cd "$src/c_api" && ls ./*.cpp impl/*.cpp utils/*.cpp) |
    xargs -P "$(nproc)" -I{} sh -c 'o=$2/$(echo "$3" | tr / _ | sed "s/^\._//").o; g++ -std=c++17 -O2 -fPIC -fopenmp -DNDEBUG -c "$1/$3" -o "$o"' _ "$src/c_api" "$out/obj" {} \
    >>"$T/logs/faiss.log" 2>&1 || die "compiling the FAISS C API failed (see $T/logs/faiss.log)"
  ar rcs "$out/lib/libfaiss_c.a" "$out"/obj/*.o && rm -rf "$out/obj"
  (cd "$src/c_api" && find . -path ./gpu -prune -o -name '*.h' -print) | while read -r h; do
    install -D -m644 "$src/c_api/$h" "$out/include/faiss/c_api/$h"
  done
  echo "-I$out/include" > "$out/cflags.txt"
  echo "-L$out/lib -lfaiss_c -lfaiss -lstdc++ -lgomp -lopenblas -lm" > "$out/link.txt"
  local tmp; tmp=$(mktemp -d)
  cat > "$tmp/t.c" <<'EOF'
#include <stdio.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/error_c.h>
int main(void) {
    FaissIndex *ix = NULL; float xb[16] = {0,0,0,0, 1,0,0,0, 0,1,0,0, 0,0,1,0}, q[4] = {.9f,.1f,0,0}, d[2]; idx_t l[2];
    if (faiss_index_factory(&ix, 4, "Flat", METRIC_L2) || faiss_Index_add(ix, 4, xb) || faiss_Index_search(ix, 1, q, 2, d, l)) {
        fprintf(stderr, "faiss: %s\n", faiss_get_last_error()); return 1; }
    printf("faiss C API ok: ntotal=%ld nearest=%ld\n", (long)faiss_Index_ntotal(ix), (long)l[0]);
    faiss_Index_free(ix); return l[0] == 1 ? 0 : 1;
}
EOF
  # shellcheck disable=SC2046
  cc $(cat "$out/cflags.txt") "$tmp/t.c" -o "$tmp/t" $(cat "$out/link.txt") >>"$T/logs/faiss.log" 2>&1 &&
    say "$("$tmp/t")" || { rm -rf "$tmp"; die "FAISS C API smoke test failed (see $T/logs/faiss.log)"; }
  rm -rf "$tmp"
  stamp_set faiss "$key" "$(cat "$out/link.txt")"
}

# ---------------------------------------------------------------- c. Go tools
go_env() {
  export GOPATH=$T/go GOMODCACHE=$T/go/pkg/mod GOCACHE=$T/go/cache GOBIN=$T/bin
  export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
  local v; v=$(cd "$T" && go env GOVERSION 2>/dev/null || true)
  version_ge "${v#go}" "$GO_VERSION" && return 0
  local d=$T/toolchain/go$GO_VERSION zip=$T/toolchain/go$GO_VERSION.zip
  if [ ! -x "$d/bin/go" ]; then   # the Go toolchain is a module on the Go proxy
    [ "$(uname -m)" = x86_64 ] || die "need Go >= $GO_VERSION (only the linux-amd64 toolchain is pinned)"
    say "local Go '${v:-none}' < $GO_VERSION: fetching go$GO_VERSION from the Go module proxy"
    local proxy; proxy=$(go env GOPROXY 2>/dev/null || true); proxy=${proxy%%,*}
    [[ $proxy = http* ]] || proxy=https://proxy.golang.org
    mkdir -p "$T/toolchain"; rm -rf "$d" "$d.tmp"
    curl -fsSL --retry 3 -o "$zip" "$proxy/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-amd64.zip" ||
      die "download of the Go toolchain failed"
    echo "$GO_TC_SHA256  $zip" | sha256sum -c --quiet - || die "Go toolchain checksum mismatch"
    unzip -q "$zip" -d "$d.tmp" && mv "$d.tmp/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-amd64" "$d"
    rm -rf "$d.tmp" "$zip"; chmod +x "$d"/bin/* "$d"/pkg/tool/*/*
  fi
  export PATH=$d/bin:$PATH
}

go_build() {   # name pkg@version ldflags version-arg
  local t0 log=$T/logs/go-$1.log out; t0=$(now)
  if ! (cd "$T" && go install -trimpath -ldflags "-s -w $3" "$2") >"$log" 2>&1; then
    tail -n 15 "$log" >&2; echo "deps: ERROR [go-tools] go install $2 failed (log: $log)" >&2; return 1
  fi
  # shellcheck disable=SC2086
  out=$("$T/bin/$1" $4 2>&1 | head -n 3 | tr '\n' ' ') || true
  stamp_set "go-$1" "$2 $3" "$out"
  say "go-tools/$1 $(secs "$t0")s: $out"
}

go_tools() {
  local line name pkg ld varg todo=() pids=() p fail=0
  for line in "${GO_TOOLS[@]}"; do
    IFS='|' read -r name pkg ld varg <<<"$line"
    stamp_ok "go-$name" "$pkg $ld" && [ -x "$T/bin/$name" ] || todo+=("$line")
  done
  [ ${#todo[@]} = 0 ] && return 0
  [ $CHECK = 1 ] && { missing "Go tools: ${todo[*]%%|*}"; return 0; }
  go_env
  say "building ${#todo[@]} Go tools with $(go version | cut -d' ' -f3) (cold: ~6-8 min on 2 cores)"
  for line in "${todo[@]}"; do
    IFS='|' read -r name pkg ld varg <<<"$line"
    while [ "$(jobs -rp | wc -l)" -ge $GO_JOBS ]; do wait -n || true; done
    go_build "$name" "$pkg" "$ld" "$varg" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail=1; done
  [ $fail = 0 ] || die "some Go tools failed to build"
}

# ---------------------------------------------------------------- d. Kafka
free_port() {
  local p i
  for i in $(seq 50); do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

kafka_smoke() {   # format + start a broker on free loopback ports, wait for it, stop it
  local d port cport pid t0 i log
  d=$(mktemp -d "$T/kafka-smoke.XXXXXX"); log=$T/logs/kafka-smoke.log
  port=$(free_port) && cport=$(free_port) || die "no free port for the Kafka smoke test"
  "$ROOT/deploy/local/kafka/kafka.sh" format "$d" "$port" "$cport" >"$log" 2>&1 || die "kafka format failed (see $log)"
  t0=$(now)
  "$ROOT/deploy/local/kafka/kafka.sh" start "$d" "$port" "$cport" >>"$log" 2>&1 & pid=$!
  for i in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 $pid 2>/dev/null || { tail -n 20 "$log" >&2; die "Kafka exited during start (see $log)"; }
    sleep 0.1
  done
  [ "$i" -lt 600 ] || { kill $pid; tail -n 20 "$log" >&2; die "Kafka did not open port $port in 60s"; }
  say "kafka broker up on 127.0.0.1:$port in $(secs "$t0")s"
  kill -TERM $pid; wait $pid 2>/dev/null || true
  rm -rf "$d"
}

kafka() {
  local key; key="kafka $(sha "$KAFKA_POM")"
  stamp_ok kafka "$key" && compgen -G "$T/kafka/libs/kafka_2.13-*.jar" >/dev/null && return 0
  [ $CHECK = 1 ] && { missing "Kafka jars in $T/kafka/libs"; return 0; }
  local jv; jv=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  version_ge "${jv:-0}" 17 || die "Kafka 4 needs Java >= 17 (java is '${jv:-missing}')"
  rm -rf "$T/kafka/libs.new"; mkdir -p "$T/kafka"
  mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" -Dmaven.repo.local="$T/m2" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$T/kafka/libs.new" >"$T/logs/kafka-mvn.log" 2>&1 ||
    { tail -n 20 "$T/logs/kafka-mvn.log" >&2; die "mvn dependency:copy-dependencies failed"; }
  rm -rf "$T/kafka/libs"; mv "$T/kafka/libs.new" "$T/kafka/libs"
  kafka_smoke
  stamp_set kafka "$key" "$(cd "$T/kafka/libs" && ls kafka_2.13-*.jar log4j-core-*.jar | tr '\n' ' ')"
}

# ---------------------------------------------------------------- e. Python virtualenv
venv() {
  local py=/usr/bin/python3 key pip
  [ -x $py ] || py=$(command -v python3) || { missing "python3"; return 0; }
  key="venv $($py -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])') $(sha "$PY_REQ")"
  stamp_ok venv "$key" && [ -x "$T/venv/bin/python" ] && return 0
  [ $CHECK = 1 ] && { missing "Python venv $T/venv"; return 0; }
  rm -rf "$T/venv"; $py -m venv "$T/venv" || die "python3 -m venv failed (python3-venv installed?)"
  pip=("$T/venv/bin/pip" -q --disable-pip-version-check)
  if ! "${pip[@]}" install --no-index --find-links "$T/wheels" -r "$PY_REQ" >/dev/null 2>&1; then
    "${pip[@]}" wheel -w "$T/wheels" -r "$PY_REQ" >"$T/logs/pip.log" 2>&1 ||
      { tail -n 20 "$T/logs/pip.log" >&2; die "pip wheel failed"; }
    "${pip[@]}" install --no-index --find-links "$T/wheels" -r "$PY_REQ" || die "pip install failed"
  fi
  "$T/venv/bin/python" -c 'import pytest, openai, grpc, grpc_tools.protoc, google.protobuf, requests, yaml, confluent_kafka' ||
    die "venv imports failed"
  stamp_set venv "$key" "$("$T/venv/bin/pip" freeze | tr '\n' ' ')"
}

# ---------------------------------------------------------------- f. real engine (llama.cpp)
# llama-cpp-python is an sdist only: its wheel (CPU, portable, no llama.cpp tests/examples) is built
# once into $T/wheels (~10 min on 2 cores), then installed with its [server] extra and gguf into the venv.
llama() {
  local ver key whl pip
  ver=$(sed -n 's/^llama_cpp_python==//p' "$ENGINE_REQ")
  [ -n "$ver" ] || die "no llama_cpp_python==VERSION pin in $ENGINE_REQ"
  key="llama $ver $(sha "$PY_REQ" "$ENGINE_REQ") $LLAMA_CMAKE_ARGS"
  stamp_ok llama "$key" && compgen -G "$T/venv/lib/python3*/site-packages/llama_cpp/server/app.py" >/dev/null &&
    return 0
  [ $CHECK = 1 ] && { missing "llama-cpp-python $ver (+ server extra, gguf) in $T/venv"; return 0; }
  [ -x "$T/venv/bin/pip" ] || die "the venv step has not run"
  pip=("$T/venv/bin/pip" -q --disable-pip-version-check)
  whl=$(compgen -G "$T/wheels/llama_cpp_python-$ver-*.whl" | head -n1 || true)
  if [ -z "$whl" ]; then
    local t0; t0=$(now)
    say "building the llama-cpp-python $ver wheel (once; ~10 min on 2 cores: sdist + build deps ~5, compile ~5)"
    CMAKE_ARGS=$LLAMA_CMAKE_ARGS CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "${pip[@]}" wheel --no-deps \
      --no-binary llama_cpp_python -w "$T/wheels" "llama_cpp_python==$ver" >"$T/logs/llama-build.log" 2>&1 ||
      { tail -n 30 "$T/logs/llama-build.log" >&2; die "building llama-cpp-python failed (log: $T/logs/llama-build.log)"; }
    say "llama-cpp-python wheel built in $(secs "$t0")s"
  fi
  if ! "${pip[@]}" install --no-index --find-links "$T/wheels" -r "$PY_REQ" -r "$ENGINE_REQ" >/dev/null 2>&1; then
    "${pip[@]}" wheel --find-links "$T/wheels" -w "$T/wheels" -c "$PY_REQ" -r "$ENGINE_REQ" \
      >"$T/logs/pip-engine.log" 2>&1 || { tail -n 20 "$T/logs/pip-engine.log" >&2; die "pip wheel (engine) failed"; }
    "${pip[@]}" install --no-index --find-links "$T/wheels" -r "$PY_REQ" -r "$ENGINE_REQ" ||
      die "pip install (engine) failed"
  fi
  "$T/venv/bin/python" -c 'import llama_cpp, llama_cpp.server.app, gguf, numpy' || die "engine imports failed"
  stamp_set llama "$key" "$("$T/venv/bin/pip" freeze | grep -iE '^(llama|gguf|numpy|fastapi|uvicorn)' | tr '\n' ' ')"
}

# ---------------------------------------------------------------- OpenTelemetry collector
# A collector with exactly the components ecosystem/otel/collector.yaml uses, so that
# ecosystem/check.sh validates the configuration with the real reader.
OTELCOL_KEY="otelcol v0.115.0 $(sha256sum "$ROOT/ecosystem/otel/builder-manifest.yaml" 2>/dev/null | cut -c1-16)"
otelcol() {
  stamp_ok otelcol "$OTELCOL_KEY" && [ -x "$T/bin/otelcol-eco" ] && return 0
  [ $CHECK = 1 ] && { missing "OpenTelemetry collector $T/bin/otelcol-eco"; return 0; }
  go_env
  ECO_TOOLS_DIR=$T bash "$ROOT/ecosystem/otel/build-collector.sh" >"$T/logs/otelcol.log" 2>&1 ||
    die "collector build failed (log: $T/logs/otelcol.log)"
  stamp_set otelcol "$OTELCOL_KEY"
}

# ---------------------------------------------------------------- offline schemas
schemas() { bash "$ROOT/scripts/schemas.sh" || die "offline schemas failed"; }

# ---------------------------------------------------------------- main
main() {
  local t0; t0=$(now)
  if [ $CHECK = 1 ]; then
    [ "$(readlink "$ROOT/.tools")" = "$T" ] || { STEP=layout; missing "$ROOT/.tools -> $T"; }
    step debian debian; step faiss faiss_c; step go-tools go_tools; step kafka kafka; step venv venv; step llama llama; step otelcol otelcol
    bash "$ROOT/scripts/schemas.sh" --check >/dev/null || { STEP=schemas; missing "offline schemas $T/schemas"; }
    say "check $(secs "$t0")s: $([ $MISSING = 0 ] && echo complete || echo INCOMPLETE)"
    exit $MISSING
  fi
  mkdir -p "$T"
  exec 9>"$T/.deps.lock"; flock -w 3600 9 || die "another deps.sh holds $T/.deps.lock"
  if [ "$ONLY" = faiss ]; then mkdir -p "$T/logs"; step faiss faiss_c; return 0; fi
  step layout layout
  step debian debian
  # Go builds are CPU-bound and independent of the rest: overlap them with the other steps.
  step go-tools go_tools & GOPID=$!
  step faiss faiss_c
  step kafka kafka
  step venv venv
  step llama llama
  STEP=go-tools; wait "$GOPID" || { GOPID=; die "Go tools failed (logs: $T/logs/go-*.log)"; }
  GOPID=
  step otelcol otelcol  # needs Go
  step schemas schemas  # needs the venv (Kubernetes schemas) and Go (CRD modules)
  say "total $(secs "$t0")s"
}
main
