#!/usr/bin/env bash
# Check a repaired pyasync wheel as if on a machine without libuv:
#
#   scripts/wheel_check.sh WHEEL [PYTHON]     (PYTHON: 3.12, a path, ...;
#                                              default: the wheel's cpXY)
#
# In a private mount namespace (unshare -m, so nothing changes outside it)
# every libuv file of the system -- libuv.so*, libuv_a.a, uv.h, uv/, libuv.pc
# -- is covered by a bind mount of /dev/null (an empty dir for uv/).  There
# it checks that the system libuv really is gone, installs the wheel into a
# fresh venv with --no-index (no build possible), checks with ldd that _core
# resolves libuv inside site-packages/pyasync.libs, runs
# scripts/wheel_smoke.py --bundled, and finally hides the wheel's own libuv
# too and expects `import pyasync` to fail: the proof that the passing run
# used the bundled copy and nothing else.  Needs root (for unshare/mount).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
wheel=$(realpath "${1:?usage: scripts/wheel_check.sh WHEEL [PYTHON]}")
say() { echo "wheel_check: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }

if [ -z "${PYASYNC_WHEEL_CHECK_NS:-}" ]; then
    [ "$(id -u)" -eq 0 ] || die "needs root, to hide the system libuv with bind mounts in a private mount namespace"
    command -v unshare >/dev/null || die "needs unshare (util-linux)"
    # --propagation private: our bind mounts never reach the real system.
    exec env PYASYNC_WHEEL_CHECK_NS=1 unshare -m --propagation private bash "$0" "$@"
fi

# The interpreter: the wheel's own version unless told.
if [ -n "${2:-}" ]; then
    want=$2
else
    tag=$(basename "$wheel" | cut -d- -f3)          # cp312
    want=${tag:2:1}.${tag:3}
fi
PYTHON=$want
source "$repo/scripts/python_version.sh" || die "no interpreter for Python $want"
py=$PYASYNC_PYTHON

tmp=$(mktemp -d)
bundled_mounts=()
# The bind mounts vanish with the namespace, but a file under one cannot be
# removed while it is covered.
cleanup() {
    for m in "${bundled_mounts[@]}"; do umount "$m" || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/empty"

# --- hide the system libuv (runtime, static lib, headers, pkg-config) -----
shopt -s nullglob
hidden=0
for f in /lib/*/libuv* /usr/lib/*/libuv* /usr/lib/libuv* /usr/lib64/libuv* \
         /usr/local/lib/libuv* /usr/local/lib64/libuv* \
         /usr/lib/*/pkgconfig/libuv*.pc /usr/lib/pkgconfig/libuv*.pc \
         /usr/share/pkgconfig/libuv*.pc /usr/local/lib/pkgconfig/libuv*.pc \
         /usr/include/uv.h /usr/local/include/uv.h /usr/include/uv /usr/local/include/uv; do
    [ -e "$f" ] || continue      # the literal (non-glob) paths
    # A symlink is followed: the mount lands on its target (harmless twice).
    if [ -d "$f" ]; then mount --bind "$tmp/empty" "$f"; else mount --bind /dev/null "$f"; fi
    hidden=$((hidden + 1))
done
shopt -u nullglob
say "system libuv hidden: $hidden paths covered (libuv1 and libuv1-dev files)"
if "$py" -c 'import ctypes; ctypes.CDLL("libuv.so.1")' 2>/dev/null; then
    die "the dynamic loader still finds a libuv.so.1: the system libuv is not hidden"
fi
if command -v pkg-config >/dev/null && pkg-config --exists libuv 2>/dev/null; then
    die "pkg-config still finds libuv: libuv1-dev is not hidden"
fi
say "ok: dlopen(\"libuv.so.1\") fails and pkg-config finds no libuv"

# --- a fresh venv; the wheel only, nothing built -------------------------
"$py" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check \
    --no-index --no-deps "$wheel" 2> >(grep -v "^WARNING: Location" >&2)
site=$("$tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')
core=$(ls "$site"/pyasync/_core*.so)
say "installed $(basename "$wheel") into a fresh venv ($("$tmp/venv/bin/python" -V))"

# --- ldd: libuv must resolve inside the wheel ----------------------------
ldd_out=$(ldd "$core" 2>&1) || { echo "$ldd_out" >&2; die "ldd cannot load _core's libraries"; }
uv_line=$(grep libuv <<<"$ldd_out") || die "ldd shows no libuv for $core"
say "ldd _core: $(sed 's/^[[:space:]]*//' <<<"$uv_line")"
grep -q "not found" <<<"$ldd_out" && { echo "$ldd_out" >&2; die "ldd: a library of _core is not found"; }
uv_path=$(sed -E 's/.*=> (.*) \(0x.*/\1/' <<<"$uv_line")   # ldd prints $ORIGIN/.. unresolved
[[ "$(realpath "$uv_path")" == "$(realpath "$site/pyasync.libs")"/* ]] \
    || die "libuv resolves to $uv_path, not inside $site/pyasync.libs"
say "ok: libuv resolves inside site-packages/pyasync.libs (RUNPATH $(readelf -d "$core" 2>/dev/null | grep -oE '(RPATH|RUNPATH).*' | grep -oE '\[.*\]' || echo '?'))"

# --- the smoke test, run outside the repository --------------------------
cd "$tmp"
"$tmp/venv/bin/python" "$repo/scripts/wheel_smoke.py" --bundled || die "smoke test"

# --- control: without the bundled copy too, pyasync must not load --------
for lib in "$site"/pyasync.libs/libuv*; do
    mount --bind /dev/null "$lib"
    bundled_mounts+=("$lib")
done
if err=$("$tmp/venv/bin/python" -c 'import pyasync' 2>&1); then
    die "import pyasync succeeded with the bundled libuv hidden too: the check proves nothing"
fi
grep -q "libuv" <<<"$err" || { echo "$err" >&2; die "import failed, but not for libuv"; }
say "ok (control): with the bundled libuv hidden too, import fails: $(tail -n1 <<<"$err")"
say "passed: $(basename "$wheel")"
