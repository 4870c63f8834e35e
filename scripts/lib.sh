# Shared helpers for the stack scripts. Sourced, not run.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Downloaded jars live outside the checkout so a fresh clone reuses them.
CACHE_DIR="${WINCHESTER_CACHE:-$HOME/.cache/winchester}"
# Runtime state (data dirs, logs, pid files, chosen ports) of the local stack.
STATE_DIR="${WINCHESTER_STACK_DIR:-$REPO_ROOT/.stack}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints a TCP port nobody is listening on right now.
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Reuses the port recorded in $1 when it is still free, so a restarted
# service keeps its address; otherwise picks and records a new one.
sticky_port() {
  local file="$1" port
  if [[ -f "$file" ]]; then
    port="$(cat "$file")"
    if ! port_open "$port"; then echo "$port"; return; fi
  fi
  port="$(free_port)"
  echo "$port" >"$file"
  echo "$port"
}

wait_for() { # wait_for <seconds> <description> <command...>
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# Signals the process of a pid file and waits until it is gone, SIGKILL after <seconds>.
halt_pidfile() { # halt_pidfile <pidfile> <name> <signal> <seconds before SIGKILL>
  local pid; pid="$(cat "$1")"
  kill -"$3" "$pid" 2>/dev/null || true
  wait_for "$4" "$2 exit" bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
  wait_for 10 "$2 exit" bash -c "! kill -0 $pid 2>/dev/null" || die "$2 (pid $pid) did not exit"
  rm -f "$1"
}

# A JVM service's stop (SIGTERM, SIGKILL 20 s later) and crash (SIGKILL, for tests).
stop_pidfile() { # stop_pidfile <pidfile> <name>
  if ! pid_alive "$1"; then log "$2 not running"; rm -f "$1"; return; fi
  halt_pidfile "$1" "$2" TERM 20
  log "$2 stopped"
}
crash_pidfile() { # crash_pidfile <pidfile> <name>
  if ! pid_alive "$1"; then log "$2 not running"; rm -f "$1"; return; fi
  halt_pidfile "$1" "$2" KILL 10
  log "$2 killed (SIGKILL)"
}

# Resolves a pom's runtime dependencies from Maven Central into a jar directory, once: a
# marker file says the copy finished, so a cached directory needs no network.
install_maven_libs() { # install_maven_libs <name> <version> <pom> <libs dir>
  if [[ -f "$4/.complete" ]]; then log "$1 $2 jars cached in $4"; return; fi
  command -v mvn >/dev/null || die "maven (mvn) is required to fetch the $1 jars"
  command -v java >/dev/null || die "java (17+) is required to run $1"
  log "resolving $1 $2 and dependencies from Maven Central into $4"
  rm -rf "$4"
  mvn -q -B -f "$3" -Dmaven.repo.local="$CACHE_DIR/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$4" -Dstyle.color=never >&2
  touch "$4/.complete"
}
