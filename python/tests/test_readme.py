# SPDX-License-Identifier: BSL-1.0
"""README.md's ```python blocks run (readme_check.py compiles the cpp blocks; this runs ours),
each on a channel name of its own."""
import os
import re
import subprocess
import sys

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def test_readme_python_blocks_run(name):
    blocks = re.findall(r"^```python\n(.*?)^```", open(README).read(), re.S | re.M)
    assert blocks, "README.md has no python block"
    for code in blocks:
        code = code.replace('"my_channel"', f'"{name}"')
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        if "b'pong'" in code or "ping" in code:
            assert "b'pong'" in r.stdout and "errc.handler_failed" in r.stdout, r.stdout
