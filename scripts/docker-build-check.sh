#!/usr/bin/env bash
# Replays the Dockerfile without a Docker engine, so the image cannot drift from the tree
# unnoticed. The build context is assembled as `docker build .` would send it (honouring
# .dockerignore); each stage's WORKDIR, ENV, ARG, COPY and RUN run in a directory standing in
# for that stage's filesystem; the final stage's command (ENTRYPOINT + CMD) must then run from
# what that stage assembled. Exit code 1, with the Dockerfile line, when a step fails.
#
#   scripts/docker-build-check.sh [--dockerfile FILE] [--run 'ARGS']... [--keep]
#
#   --dockerfile FILE  the Dockerfile to replay (default: the repository's); the context is
#                      always the repository, as with `docker build -f FILE .`
#   --run 'ARGS'       also run the final stage's ENTRYPOINT with these arguments
#   --keep             keep the work directory (printed) to look at afterwards
#
# What it cannot do: base images are not pulled, so RUN uses this machine's tools (a Node
# major version other than a node:<major> image's is reported); absolute paths inside RUN
# commands are not mapped into the stand-in; USER, EXPOSE, HEALTHCHECK and the like are not
# checked. npm may use its cache (prefer-offline); the npm registry is the only network used.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dockerfile=$repo/Dockerfile
extra_runs=()
keep=false

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
  case $1 in
    --dockerfile) dockerfile=$(realpath "$2"); shift 2 ;;
    --run) extra_runs+=("$2"); shift 2 ;;
    --keep) keep=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "docker-build-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/docker-build-check.XXXXXX")
cleanup() {
  if $keep; then echo "docker-build-check: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

location=$dockerfile
fail() {
  echo "docker-build-check: $location: $*" >&2
  exit 1
}

# The stage being replayed: its stand-in root, WORKDIR, ENV (kept in the image) and ARG (RUN only).
declare -A stage_roots=()
root='' workdir=/ stage_env=() stage_args=() entrypoint=() default_command=()

# A stage path made absolute against WORKDIR, without touching this machine's filesystem.
container_path() {
  local path=$1
  [[ $path == /* ]] || path=$workdir/$path
  realpath -ms "$path"
}

node_major_check() {
  local image=$1 wanted here
  [[ $image =~ ^node:([0-9]+) ]] || {
    echo "    note: $image is not a node image; RUN uses this machine's tools"
    return
  }
  wanted=${BASH_REMATCH[1]}
  here=$(node -p 'process.versions.node.split(".")[0]')
  if [[ $wanted != "$here" ]]; then
    echo "    warning: the image has Node $wanted, this machine Node $here; RUN and the final command use Node $here" >&2
  fi
}

# Environment of a command in the stand-in: nothing from this shell but PATH and HOME (npm's
# cache), the proxy and registry settings npm may need, and the stage's own variables.
stage_command() {
  local home=$1
  shift
  local passed=(PATH="$PATH" HOME="$home" NPM_CONFIG_PREFER_OFFLINE=true) name
  for name in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY NPM_CONFIG_REGISTRY npm_config_registry; do
    [[ -n ${!name:-} ]] && passed+=("$name=${!name}")
  done
  env -i "${passed[@]}" "$@"
}

df_at() {
  location="$(basename "$dockerfile"):$1"
  echo "==> $location $2"
}

df_stage() {
  local index=$1 name=$2 image=$3
  root=$work/stages/$index
  mkdir -p "$root"
  stage_roots[$index]=$root
  [[ -z $name ]] || stage_roots[$name]=$root
  workdir=/ stage_env=() stage_args=() entrypoint=() default_command=()
  node_major_check "$image"
}

df_workdir() {
  workdir=$(container_path "$1")
  mkdir -p "$root$workdir"
}

df_env() { stage_env+=("$1=$2"); }
df_arg() { stage_args+=("$1=$2"); }
df_note() { echo "    ($1 is not checked here)"; }
df_entrypoint() { entrypoint=("$@"); }
df_cmd() { default_command=("$@"); }

# Why a COPY source is not there: absent from the tree, kept out by .dockerignore, or not built.
missing_source() {
  local from=$1 source=$2
  if [[ -n $from ]]; then
    echo "$source is not in stage $from: that stage did not produce it"
  elif compgen -G "$repo/${source#/}" >/dev/null; then
    echo "$source is excluded from the build context by .dockerignore"
  else
    echo "$source is not in the build context (no such file in $repo)"
  fi
}

df_copy() {
  local from=$1 destination=$2
  shift 2
  local base=$work/context
  if [[ -n $from ]]; then
    base=${stage_roots[$from]:-}
    [[ -n $base ]] || fail "COPY --from=$from: no earlier stage of that name"
  fi
  local sources=() source matches match
  for source in "$@"; do
    # Sources are globs: relative to the context, or to the stage's root with --from.
    matches=()
    while IFS= read -r match; do matches+=("$match"); done < <(compgen -G "$base/${source#/}" || true)
    ((${#matches[@]})) || fail "COPY: $(missing_source "$from" "$source")"
    sources+=("${matches[@]}")
  done
  local target
  target=$root$(container_path "$destination")
  if ((${#sources[@]} > 1)) && [[ $destination != */ ]]; then
    fail "COPY of several files needs a destination ending in /"
  fi
  for source in "${sources[@]}"; do
    if [[ -d $source ]]; then
      # A directory's contents are copied, not the directory itself.
      mkdir -p "$target"
      cp -a "$source/." "$target/"
    elif [[ $destination == */ || -d $target ]]; then
      mkdir -p "$target"
      cp -a "$source" "$target/"
    else
      mkdir -p "$(dirname "$target")"
      cp -a "$source" "$target"
    fi
  done
}

df_run() {
  local status=0
  (cd "$root$workdir" && stage_command "$HOME" "${stage_env[@]}" "${stage_args[@]}" /bin/sh -c "$1") || status=$?
  ((status == 0)) || fail "RUN failed with exit code $status: $1"
}

df_run_exec() {
  local status=0
  (cd "$root$workdir" && stage_command "$HOME" "${stage_env[@]}" "${stage_args[@]}" "$@") || status=$?
  ((status == 0)) || fail "RUN failed with exit code $status: $*"
}

# The final stage's ENTRYPOINT with these arguments, from its WORKDIR, with only its ENV.
run_final() {
  local command=("${entrypoint[@]}" "$@") status=0
  ((${#command[@]})) || fail "the final stage has no ENTRYPOINT or CMD to run"
  echo "==> run: ${command[*]}"
  mkdir -p "$work/home"
  (cd "$root$workdir" && stage_command "$work/home" "${stage_env[@]}" "${command[@]}") || status=$?
  ((status == 0)) || fail "the final stage's command failed with exit code $status: ${command[*]}"
}

echo "==> build context of $repo"
node "$repo/scripts/dockerfile.js" context "$repo" "$work/context" | sed 's/^/    /'
plan=$(node "$repo/scripts/dockerfile.js" plan "$dockerfile") || exit 1
eval "$plan"

location="$(basename "$dockerfile") (final stage)"
run_final "${default_command[@]}"
for arguments in "${extra_runs[@]}"; do
  read -ra words <<<"$arguments"
  run_final "${words[@]}"
done
echo "==> $(basename "$dockerfile") replays: every step ran and the final stage's command works"
