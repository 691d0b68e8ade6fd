import subprocess
import sys

import pytest

CHECK = "from jenacast.training.memory import keep_freed_memory as k; print(k(), k())"


def run(env_value):
    env = {"PATH": "/usr/bin:/bin", "JENACAST_MALLOPT": env_value}
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, check=True)
    return out.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_thresholds_set_once_on_linux():
    assert run("1") == ["True", "True"]


def test_opt_out():
    assert run("0") == ["False", "False"]
