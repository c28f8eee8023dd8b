#!/usr/bin/env bash
# Run a command in the built workspace's environment: ros2_ws/env.sh COMMAND [ARGS...]
#
# With a system ROS 2 (ROS_DISTRO set, or /opt/ros/<distro>/setup.bash sourced before), the
# workspace's own install/setup.bash is sourced. With ROS 2 from pip wheels in the project's
# .venv (make ros), the paths that setup script would set are set here, since the wheels'
# shell scripts assume a ROS install tree.
set -euo pipefail
WS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$(dirname "$WS")/.venv"
if [ ! -d "$WS/install" ]; then
    echo "env.sh: $WS/install does not exist; build the workspace first (make ros)" >&2
    exit 1
fi
if [ -n "${ROS_DISTRO:-}" ] && [ -f "$WS/install/setup.bash" ]; then
    set +u
    # shellcheck disable=SC1091
    source "$WS/install/setup.bash"
    set -u
else
    PYVER="$("$VENV/bin/python" -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')"
    export PATH="$VENV/bin:$PATH"
    export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    export LD_LIBRARY_PATH="$VENV/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    for pkg in "$WS"/install/*/; do
        pkg="${pkg%/}"
        [ -d "$pkg/share" ] || continue
        export AMENT_PREFIX_PATH="$pkg:$AMENT_PREFIX_PATH"
        [ -d "$pkg/lib" ] && export LD_LIBRARY_PATH="$pkg/lib:$LD_LIBRARY_PATH"
        [ -d "$pkg/lib/$PYVER/site-packages" ] && export PYTHONPATH="$pkg/lib/$PYVER/site-packages${PYTHONPATH:+:$PYTHONPATH}"
        [ -d "$pkg/bin" ] && export PATH="$pkg/bin:$PATH"
        # ament_python packages install their executables under lib/<package>.
        [ -d "$pkg/lib/$(basename "$pkg")" ] && export PATH="$pkg/lib/$(basename "$pkg"):$PATH"
    done
fi
exec "$@"
