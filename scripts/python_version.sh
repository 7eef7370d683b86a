# Sourced by setup.sh, test.sh and sanitize.sh: which Python to build and
# test pyasync with, and which venv holds it.
#
#   PYTHON unset          -> python3,             venv .venv
#   PYTHON=3.12           -> a Python 3.12,       venv .venv-3.12
#   PYTHON=python3.13     -> a Python 3.13,       venv .venv-3.13
#   PYTHON=/path/to/python-> that interpreter,    venv .venv-X.Y
#
# A version is found on PATH (python3.12) or, when that is missing or is a
# pyenv shim that cannot run it, under $(pyenv root)/versions/3.12.*.
# Sets PYASYNC_PYTHON (the base interpreter) and PYASYNC_VENV.

pyasync_find_python() {
    local want=$1 ver cand root
    ver=${want#python}
    if [[ "$want" == */* ]]; then
        [ -x "$want" ] && { echo "$want"; return 0; }
        return 1
    fi
    for cand in "python$ver" "$want"; do
        if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'pass' >/dev/null 2>&1; then
            command -v "$cand"; return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then root=$(pyenv root); else root=${PYENV_ROOT:-$HOME/.pyenv}; fi
    for cand in $(ls -d "$root"/versions/"$ver".* 2>/dev/null | sort -V -r); do
        [ -x "$cand/bin/python3" ] && { echo "$cand/bin/python3"; return 0; }
    done
    return 1
}

if [ -z "${PYTHON:-}" ]; then
    PYASYNC_PYTHON=$(command -v python3)
    PYASYNC_VENV=.venv
else
    PYASYNC_PYTHON=$(pyasync_find_python "$PYTHON") || {
        echo "no interpreter found for PYTHON=$PYTHON" >&2; return 3 2>/dev/null || exit 3; }
    PYASYNC_VENV=.venv-$("$PYASYNC_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
fi
