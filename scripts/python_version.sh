# Sourced by setup.sh, test.sh and sanitize.sh: which Python to build and
# test pyasync with, and which venv holds it.
#
#   PYTHON unset          -> python3,             venv .venv
#   PYTHON=3.12           -> a Python 3.12,       venv .venv-3.12
#   PYTHON=python3.13     -> a Python 3.13,       venv .venv-3.13
#   PYTHON=3.14t          -> a free-threaded 3.14, venv .venv-3.14t
#   PYTHON=/path/to/python-> that interpreter,    venv .venv-X.Y[t]
#
# A version is found on PATH (python3.12) or, when that is missing or is a
# pyenv shim that cannot run it, under $(pyenv root)/versions/3.12.*.
# A free-threaded build (python3.14t, pyenv's 3.14.0t) is only taken when
# asked for by its "t", and a plain version never finds one.
# Sets PYASYNC_PYTHON (the base interpreter) and PYASYNC_VENV.

# "X.Y" or "X.Yt" for the interpreter $1.
pyasync_python_tag() {
    "$1" -c 'import sys, sysconfig
print("%d.%d%s" % (sys.version_info[0], sys.version_info[1],
                   "t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""))'
}

pyasync_find_python() {
    local want=$1 ver base cand root
    ver=${want#python}
    if [[ "$want" == */* ]]; then
        [ -x "$want" ] && { echo "$want"; return 0; }
        return 1
    fi
    base=${ver%t}
    for cand in "python$ver" "$want"; do
        if command -v "$cand" >/dev/null 2>&1 &&
                [ "$(pyasync_python_tag "$cand" 2>/dev/null)" = "$ver" ]; then
            command -v "$cand"; return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then root=$(pyenv root); else root=${PYENV_ROOT:-$HOME/.pyenv}; fi
    for cand in $(ls -d "$root"/versions/"$base".* 2>/dev/null | sort -V -r); do
        if [ -x "$cand/bin/python3" ] &&
                [ "$(pyasync_python_tag "$cand/bin/python3" 2>/dev/null)" = "$ver" ]; then
            echo "$cand/bin/python3"; return 0
        fi
    done
    return 1
}

if [ -z "${PYTHON:-}" ]; then
    PYASYNC_PYTHON=$(command -v python3)
    PYASYNC_VENV=.venv
else
    PYASYNC_PYTHON=$(pyasync_find_python "$PYTHON") || {
        echo "no interpreter found for PYTHON=$PYTHON" >&2; return 3 2>/dev/null || exit 3; }
    PYASYNC_VENV=.venv-$(pyasync_python_tag "$PYASYNC_PYTHON")
fi
