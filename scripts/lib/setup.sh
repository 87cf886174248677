# Shared by scripts/run and scripts/test: install what the build needs from Debian's packages
# when it is missing, then configure and build a folder. Sourced, not executed.

MMUSIM_PACKAGES=(cmake make g++ pkg-config libsystemc-dev libboost-program-options-dev
                 nlohmann-json3-dev libgtest-dev libbenchmark-dev python3 python3-matplotlib)

mmusim_log() { printf '%s\n' "$*" >&2; }

# ensure_packages [EXTRA...]: apt-get install whatever of the list is not installed yet.
ensure_packages() {
  local missing=() pkg
  for pkg in "${MMUSIM_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  mmusim_log "mmusim: installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >/dev/null
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# configure_and_build BUILD_DIR BUILD_TYPE [CMAKE_ARGS...]
configure_and_build() {
  local dir="$1" type="$2"
  shift 2
  local jobs
  jobs="$(nproc 2>/dev/null || echo 2)"
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S "$MMUSIM_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
  fi
  cmake --build "$dir" -j "$jobs" -- --no-print-directory >"$dir/build.log" 2>&1 || {
    cat "$dir/build.log" >&2
    mmusim_log "mmusim: the build failed (log: $dir/build.log)"
    return 1
  }
}
