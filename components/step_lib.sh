# shellcheck shell=bash
# Helpers every host script sources (components/remote.py puts this file into each step's bundle).
# They make idempotency the default: each helper acts only when the host differs from the wanted
# state and records what it changed; the last line of a step's output is
#   platform-step: changed: <what>     or     platform-step: unchanged
# Needs: bash, coreutils, perl-base (essential on Debian and Ubuntu), dpkg/apt, systemd.

export DEBIAN_FRONTEND=noninteractive
STEP_CHANGES=()
STEP_CHANGED_FILES=()
STEP_APT_UPDATED=0

log() { printf '%s: %s\n' "${STEP_ID:-step}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Record a change (shown in the final status line).
changed() { STEP_CHANGES+=("$*"); }

step_finish() {
  local rc=$?
  if [ "$rc" -eq 0 ]; then
    if [ "${#STEP_CHANGES[@]}" -gt 0 ]; then
      local IFS=';'
      echo "platform-step: changed: ${STEP_CHANGES[*]}"
    else
      echo "platform-step: unchanged"
    fi
  fi
  return "$rc"
}
trap step_finish EXIT

# The value of a secret that reached this step through stdin.
secret() {
  local f="$STEP_DIR/secrets/$1"
  [ -f "$f" ] || die "secret '$1' was not passed to this step"
  cat "$f"
}

# The text of a bundled file, with every {{secret:NAME}} replaced by that secret's value.
bundled() {
  local f="$STEP_DIR/files/$1"
  [ -f "$f" ] || die "file '$1' was not passed to this step"
  perl -pe '
    s/\{\{secret:([A-Za-z0-9_.-]+)\}\}/_secret($1)/ge;
    sub _secret {
      my $n = shift;
      open(my $fh, "<", "$ENV{STEP_DIR}/secrets/$n") or die "secret $n was not passed to this step\n";
      local $/; my $v = <$fh>; close $fh; chomp $v; return $v;
    }' "$f"
}

# put NAME DEST MODE OWNER:GROUP - install bundled file NAME at DEST if content, mode or owner differ.
put() {
  local name=$1 dest=$2 mode=$3 owner=$4 tmp
  tmp=$(mktemp "$STEP_DIR/put.XXXXXX")
  bundled "$name" >"$tmp"
  put_content "$tmp" "$dest" "$mode" "$owner"
}

# put_content SRC DEST MODE OWNER:GROUP - like put, for content the script produced itself.
put_content() {
  local src=$1 dest=$2 mode=$3 owner=$4
  if [ -f "$dest" ] && cmp -s "$src" "$dest" \
     && [ "$(stat -c '%a %U:%G' "$dest")" = "$(printf '%o' "0$mode") $owner" ]; then
    return 0
  fi
  install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$src" "$dest"
  STEP_CHANGED_FILES+=("$dest")
  changed "$dest"
}

# install_secret NAME DEST MODE OWNER:GROUP - like put, for a secret's value as the whole file.
install_secret() {
  local tmp
  tmp=$(mktemp "$STEP_DIR/secret.XXXXXX")
  secret "$1" >"$tmp"
  put_content "$tmp" "$2" "$3" "$4"
}

# file_changed DEST... - true if this step (re)wrote any of the given files.
file_changed() {
  local f c
  for f in "$@"; do
    for c in "${STEP_CHANGED_FILES[@]}"; do [ "$c" = "$f" ] && return 0; done
  done
  return 1
}

# changed_under DIR - true if this step (re)wrote or removed any file below DIR.
changed_under() {
  local c
  for c in "${STEP_CHANGED_FILES[@]}"; do [[ $c == "$1"/* ]] && return 0; done
  return 1
}

# ensure_packages PKG... - install the ones that are missing (apt index refreshed once per step).
# Steps of different components may run on one host at the same time: apt runs under one host-wide
# lock (flock, bounded), so they queue instead of failing on dpkg's lock.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${missing[*]}"
  local aptlog="$STEP_DIR/apt.log"
  if ! (
    flock -w 600 9 || { echo "timed out waiting for the apt lock" >"$aptlog"; exit 1; }
    if [ "$STEP_APT_UPDATED" -eq 0 ]; then
      apt-get -o DPkg::Lock::Timeout=300 update -q >"$aptlog" 2>&1 || exit 1
    fi
    apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confold "${missing[@]}" >>"$aptlog" 2>&1
  ) 9>/var/lib/platform-apt.lock; then
    tail -n 30 "$aptlog" >&2
    die "apt-get install ${missing[*]} failed"
  fi
  STEP_APT_UPDATED=1
  changed "installed ${missing[*]}"
}

# ensure_enabled UNIT - enabled at boot and running now.
ensure_enabled() {
  local unit=$1
  if ! systemctl is-enabled --quiet "$unit" 2>/dev/null; then
    systemctl enable --quiet "$unit"
    changed "enabled $unit"
  fi
  if ! systemctl is-active --quiet "$unit"; then
    systemctl start "$unit"
    changed "started $unit"
  fi
}

# restart_if_changed UNIT FILE... - restart UNIT if this step rewrote any FILE (start it if stopped).
restart_if_changed() {
  local unit=$1; shift
  if file_changed "$@"; then
    systemctl restart "$unit"
    changed "restarted $unit"
  fi
}

# install_timer UNIT [SRC] - install the bundled SRC.service and SRC.timer (SRC defaults to UNIT) as
# UNIT.service and UNIT.timer, reload systemd when they changed, and keep the timer enabled and
# running (restarted when its schedule changed).
install_timer() {
  local unit=$1 src=${2:-$1} d=/etc/systemd/system
  put "$src.service" "$d/$unit.service" 0644 root:root
  put "$src.timer" "$d/$unit.timer" 0644 root:root
  if file_changed "$d/$unit.service" "$d/$unit.timer"; then systemctl daemon-reload; fi
  ensure_enabled "$unit.timer"
  restart_if_changed "$unit.timer" "$d/$unit.timer"
}

# ensure_sysctl_file NAME - install bundled NAME in /etc/sysctl.d and apply it; keys that are
# read-only here (kernel.*/vm.* inside containers) only warn: they are optimisations.
ensure_sysctl_file() {
  local name=$1 dest=/etc/sysctl.d/$1
  put "$name" "$dest" 0644 root:root
  if file_changed "$dest"; then
    sysctl -q -p "$dest" 2>/tmp/platform-sysctl.err || log "WARNING: some settings of $dest could not be applied here: $(tr '\n' ' ' </tmp/platform-sysctl.err)"
  fi
}

# Scalar parameters of this step (remote.py: StepSpec.params), if it has any.
if [ -f "$STEP_DIR/files/params.env" ]; then
  # shellcheck disable=SC1091
  . "$STEP_DIR/files/params.env"
fi

# retry ATTEMPTS DELAY CMD... - run CMD until it succeeds, at most ATTEMPTS times, DELAY s apart.
retry() {
  local attempts=$1 delay=$2 i=1
  shift 2
  until "$@"; do
    [ "$i" -ge "$attempts" ] && return 1
    log "retrying ($i/$attempts) in ${delay}s: $*"
    sleep "$delay"
    i=$((i + 1))
  done
}

# ensure_perms PATH MODE OWNER:GROUP - for files a service rewrites itself (put would clobber them).
ensure_perms() {
  local path=$1 mode=$2 owner=$3
  if [ "$(stat -c '%a %U:%G' "$path")" != "$(printf '%o' "0$mode") $owner" ]; then
    chown "$owner" "$path"
    chmod "$mode" "$path"
    changed "$path permissions"
  fi
}

# ensure_service UNIT RESTART - enabled at boot; restarted when RESTART is 1, else started if stopped.
ensure_service() {
  local unit=$1 restart=$2
  if ! systemctl is-enabled --quiet "$unit"; then
    systemctl enable --quiet "$unit"
    changed "enabled $unit"
  fi
  if [ "$restart" = 1 ]; then
    systemctl restart "$unit"
    changed "restarted $unit"
  elif ! systemctl is-active --quiet "$unit"; then
    systemctl start "$unit"
    changed "started $unit"
  fi
}

# wait_until SECONDS INTERVAL WHAT CMD... - run CMD every INTERVAL s until it succeeds; give up after
# SECONDS with a log line naming WHAT (returns 1). Every wait of a step is bounded through this.
wait_until() {
  local timeout=$1 interval=$2 what=$3 deadline
  shift 3
  deadline=$((SECONDS + timeout))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "gave up after ${timeout}s waiting for $what"
      return 1
    fi
    sleep "$interval"
  done
}

# sync_dir SRC_PREFIX DEST_DIR MODE OWNER:GROUP - DEST_DIR holds exactly the bundled files named
# SRC_PREFIX<name> (as <name>): new and changed ones installed, others removed.
sync_dir() {
  local prefix=$1 dest=$2 mode=$3 owner=$4 f name
  install -d -m 0755 "$dest"
  local -a synced=()
  for f in "$STEP_DIR/files/$prefix"*; do
    [ -e "$f" ] || continue
    name=${f##*/"$prefix"}
    synced+=("$name")
    put "$prefix$name" "$dest/$name" "$mode" "$owner"
  done
  for f in "$dest"/*; do
    [ -e "$f" ] || continue
    name=${f##*/}
    if ! printf "%s\n" "${synced[@]}" | grep -qxF -- "$name"; then
      rm -f -- "$f"
      STEP_CHANGED_FILES+=("$f")
      changed "removed $f"
    fi
  done
}
