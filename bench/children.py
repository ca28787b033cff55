"""Each measurement in a fresh process: a figure must not carry another's caches, graphs or peak RSS."""

import json
import os
import subprocess
import sys


def run_child(script, request, timeout):
    """Runs `script --child REQUEST` in a fresh Python and returns the dict it printed as `RESULT {...}`.

    The child's own main() prints that line; anything else it prints is ignored, and its stderr
    tail is raised with the request when it printed no result (a crash, an exception, a kill).
    """
    command = [sys.executable, str(script), "--child", json.dumps(request)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    summary = {key: value for key, value in request.items() if isinstance(value, (str, int, float))}
    raise RuntimeError(f"benchmark child failed ({summary}):\n{done.stderr[-3000:]}")
