"""keep_freed_memory: freed tensors are reused without new page faults (glibc only)."""

import os
import subprocess
import sys

import pytest

# Like a training step: 20 buffers of 8 MB live at once, then all freed; five steps after a
# first one. Prints whether the allocator was changed and the page faults of the five.
SCRIPT = """
import resource, torch
from gaugemesh.training.allocator import keep_freed_memory
changed = keep_freed_memory()
def step():
    live = [torch.ones(2 * 2**20) for _ in range(20)]
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print(changed, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def run(env_value: str | None) -> tuple[bool, int]:
    env = dict(os.environ)
    env.pop("GAUGEMESH_MALLOC", None)
    env.pop("GLIBC_TUNABLES", None)
    if env_value is not None:
        env["GAUGEMESH_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    changed, faults = out.stdout.split()
    return changed == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")
def test_freed_memory_is_reused_without_page_faults():
    changed, faults = run(None)
    if not changed:
        pytest.skip("this C library has no mallopt (not glibc)")
    # The five steps touch 5 x 40,000 pages. Kept memory needs almost none of them faulted
    # in again (0 to 2,048 here: at most one buffer). glibc's defaults give much of it back
    # after each step, but not always: 2,000 to 205,000 faults in repeated runs here, so
    # that side is not asserted.
    assert faults < 10_000, faults


def test_opt_out(monkeypatch):
    """In this process: with the opt-out, nothing process-wide is touched (mallopt is not
    even looked up), so no child process is needed to keep the test runner's allocator."""
    import ctypes

    from gaugemesh.training.allocator import keep_freed_memory

    monkeypatch.setenv("GAUGEMESH_MALLOC", "default")
    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: pytest.fail("the C library was opened"))
    assert keep_freed_memory() is False
