#!/usr/bin/env bash
# Builds the Debian package from the release binary, installs it with dpkg, runs the
# installed binary, starts the command of the installed systemd unit (its ExecStart, with
# the example environment file pointing at a model trained here) and probes /healthz on
# 127.0.0.1; then stops the server and purges the package. Nothing is left behind.
#   usage: deb-check.sh   (after `cargo build --release`; run as root, or with sudo -n)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
# cargo-deb, pinned; installed only when missing (its build time is printed).
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  t=$(date +%s)
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" --quiet
  echo "deb-check: cargo-deb $CARGO_DEB_VERSION installed in $(( $(date +%s) - t )) s" >&2
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=()
elif sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "deb-check: SKIPPED: installing a package needs root (or sudo without a password)" >&2
  exit 0
fi
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/cardseg"
[ -x "$bin" ] || { echo "deb-check: $bin is missing; run cargo build --release first" >&2; exit 1; }
work=$(mktemp -d)
pid=
installed=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$installed" ]; then "${SUDO[@]}" dpkg --purge cardseg >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if dpkg-query -W -f='${Status}' cardseg 2>/dev/null | grep -q " installed$"; then
  echo "deb-check: a cardseg package is already installed here; not touching it" >&2
  exit 1
fi
deb=$(cargo deb --no-build --no-strip --output "$work/" 2>&1 | tail -n1)
[ -f "$deb" ] || { echo "deb-check: cargo deb did not make a package: $deb" >&2; exit 1; }
echo "deb-check: built $(basename "$deb") ($(du -k "$deb" | cut -f1) KB)" >&2
"${SUDO[@]}" dpkg -i "$deb" >/dev/null
installed=1
version=$(/usr/bin/cardseg --version)
echo "deb-check: installed /usr/bin/cardseg: $version" >&2
want="cardseg $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
case "$version" in "$want (commit "*")") ;; *) echo "deb-check: unexpected --version: $version (want $want (commit ...))" >&2; exit 1;; esac
unit=/lib/systemd/system/cardseg-serve.service
[ -f "$unit" ] || unit=/usr/lib/systemd/system/cardseg-serve.service
[ -f "$unit" ] || { echo "deb-check: the package installed no cardseg-serve.service" >&2; exit 1; }
[ -f /etc/default/cardseg-serve ] || { echo "deb-check: no /etc/default/cardseg-serve" >&2; exit 1; }
grep -q '^EnvironmentFile=/etc/default/cardseg-serve$' "$unit"
grep -q '^DynamicUser=yes$' "$unit"
# systemd's own check of the installed unit (its options, the binary it runs).
if command -v systemd-analyze >/dev/null 2>&1; then
  if ! msg=$(systemd-analyze verify "$unit" 2>&1) || [ -n "$msg" ]; then
    echo "deb-check: systemd-analyze verify $unit: $msg" >&2; exit 1
  fi
fi
# A model trained here, and the example environment file pointing at it on a free port.
/usr/bin/cardseg --quiet generate --rows 300 --out "$work/data.csv"
/usr/bin/cardseg --quiet run --input "$work/data.csv" --out "$work/run" --k 3 --n-init 1 --no-dashboard
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s|^CARDSEG_MODEL=.*|CARDSEG_MODEL=$work/run/model.json|" \
    -e "s|^CARDSEG_ADDR=.*|CARDSEG_ADDR=127.0.0.1:$port|" /etc/default/cardseg-serve > "$work/env"
grep -q "^CARDSEG_ADDR=127.0.0.1:" /etc/default/cardseg-serve || { echo "deb-check: the example does not bind 127.0.0.1" >&2; exit 1; }
# The unit's ExecStart, expanded as systemd does for these simple values.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
( set -a; . "$work/env"; set +a; eval "exec $exec_start" ) >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 300); do
  if grep -q "listening on" "$work/out" 2>/dev/null; then break; fi
  kill -0 "$pid" 2>/dev/null || { echo "deb-check: the service exited: $(cat "$work/err")" >&2; exit 1; }
  sleep 0.1
done
grep -q "listening on http://127.0.0.1:$port" "$work/out" || { echo "deb-check: the service did not start: $(cat "$work/err")" >&2; exit 1; }
health=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=10).status)")
[ "$health" = 200 ] || { echo "deb-check: /healthz answered $health" >&2; exit 1; }
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=
# Removed with its configuration (dpkg -r would keep /etc/default/cardseg-serve).
"${SUDO[@]}" dpkg --purge cardseg >/dev/null; installed=
[ ! -e /usr/bin/cardseg ] && [ ! -e /etc/default/cardseg-serve ] || { echo "deb-check: dpkg --purge left files behind" >&2; exit 1; }
echo "deb-check: package built, installed, started (/healthz 200 on 127.0.0.1:$port), removed in $(( $(date +%s) - start )) s" >&2
