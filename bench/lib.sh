# Shared by the benchmark scripts: tools, the release build, and a server to measure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"

need() { # need <command> <debian package>
  command -v "$1" >/dev/null 2>&1 && return 0
  local sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  ${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  ${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

# BENCH_NO_BUILD=1 measures the release build already in target/ (say, several benchmarks of
# one build in a row while the sources change), if the site there is a release one (a debug
# build, such as scripts/test's, leaves no compressed copies and a larger WASM).
release_build() {
  [[ -n "${BENCH_NO_BUILD:-}" && -x target/release/rollcall && -f target/site/pkg/rollcall.wasm.br ]] && return 0
  scripts/setup >&2
  cargo leptos build --release --precompress >&2
}

# ms_since <start-ns>
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

wait_ready() { # wait_ready <port>; returns 1 after 120 s
  for _ in $(seq 1 12000); do
    curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.01
  done
  return 1
}
