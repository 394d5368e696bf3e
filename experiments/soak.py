"""Soak test: preprocess, train, resume and eval in a loop, with kill -9 and a full disk.

Run from the repository root (``make soak``)::

    python -m experiments.soak --rounds 50

In a temporary folder it writes a tiny generic dataset and a tiny config, then runs one
``gaugemesh`` command per round (seeded): ``preprocess --workers 2``, ``train --overwrite``,
``train --resume`` (when a ``last.pt`` exists) or ``eval``. With some probability the command
is killed with SIGKILL at a random moment: its whole process group (``os.killpg``), or only
the parent pid, which tests that preprocessing workers die with their parent. Where a
size-limited tmpfs can be mounted (root in a container that allows it), some rounds put the
cache and the run folder there, nearly full; otherwise those rounds are skipped with the
reason printed.

After every round (no gaugemesh process running) and after a final recovery pass (each
command run once more, unkilled, on an emptied disk) it checks:

- corrupt entries: every cache entry loads with :func:`gaugemesh.datasets.cache.load_entry`;
- lost checkpoints: every ``best.pt``/``last.pt`` present loads with
  :func:`gaugemesh.training.checkpoint.load_checkpoint`, and none present before a round is
  gone after it unless the round was ``train --overwrite`` (which deletes the old run);
- orphans: every process the command started (its descendants, sampled while it ran) and
  every process whose command line names the soak's folder is gone 5 s after the command
  ended or was killed;
- leaked temporary files: files named like the atomic writers' temporaries (``.tmp-*`` in the
  cache, ``.<name>.*.tmp`` next to a checkpoint) left once no process runs. Temporaries right
  after a kill -9 are listed per round; the count that must be zero is what is left after
  the recovery pass.

Prints a summary table and exits 1 if any count is not zero.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]

CONFIG = """
[data]
format = "generic"
root = "{root}"
cache = "{cache}"
val_fraction = 0.25
workers = 0
[features]
names = ["hks", "curvature", "hks_grad"]
hks_count = 4
grad_count = 2
eigs = 16
[model]
width = 4
max_order = 1
num_blocks = 1
[train]
epochs = 3
batch_size = 2
lr = 0.02
seed = 0
device = "cpu"
[output]
dir = "{out}"
"""

PREPROCESS_OPTIONS = ["--split", "train", "--workers", "2", "--features", "hks", "curvature", "hks_grad",
                      "--hks-count", "4", "--grad-count", "2", "--eigs", "16", "--no-progress"]

#: How long a command may take before the soak calls it hung (and counts it as a failure).
HANG_S = 120.0
#: How long a process may outlive the command that started it before it counts as an orphan.
ORPHAN_GRACE_S = 5.0


def gaugemesh_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("gaugemesh")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "gaugemesh.cli"]


def is_temporary(path: Path) -> bool:
    """The names :func:`gaugemesh.atomic.atomic_torch_save` gives its temporary files: the
    cache's ``.tmp-<pid>-*`` and the default ``.<target name>.*.tmp``."""
    name = path.name
    return name.startswith(".tmp-") or (name.startswith(".") and name.endswith(".tmp"))


class Place:
    """A cache and a run folder on one file system (the main temp folder, or the small tmpfs)."""

    def __init__(self, base: Path, data: Path, name: str):
        self.name, self.base = name, base
        self.cache, self.run = base / "cache", base / "run"
        self.config = base / "config.toml"
        base.mkdir(parents=True, exist_ok=True)
        self.config.write_text(CONFIG.format(root=data, cache=self.cache, out=self.run))
        self.filler = base / "filler.bin"

    def fill(self, leave: int) -> int:
        """Fill the file system up to ``leave`` free bytes; returns the bytes left."""
        st = os.statvfs(self.base)
        free = st.f_bavail * st.f_frsize
        size = max(0, free - leave)
        with open(self.filler, "wb") as f:
            try:
                os.posix_fallocate(f.fileno(), 0, size)
            except OSError:
                chunk = b"\0" * (1 << 16)
                written = 0
                while written < size:
                    written += f.write(chunk[: min(len(chunk), size - written)])
        st = os.statvfs(self.base)
        return st.f_bavail * st.f_frsize

    def empty(self) -> None:
        self.filler.unlink(missing_ok=True)


class Soak:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = Path(tempfile.mkdtemp(prefix="gaugemesh-soak-", dir=args.tmp))
        self.data = self.work / "data"
        self.small_mount: Path | None = None
        self.places: dict[str, Place] = {}
        self.counts = dict(corrupt_entries=0, lost_checkpoints=0, orphans=0, leaked_temporaries=0)
        self.stats = dict(rounds=0, killed_group=0, killed_parent=0, disk_full_rounds=0, temporaries_after_kill=0,
                          entries_checked=0, checkpoints_checked=0)
        self.outcomes: dict[str, dict[str, int]] = {}
        self.problems: list[str] = []
        self.full_disk_reason = ""

    # -- set-up ---------------------------------------------------------------------------

    def setup(self) -> None:
        from tests.datasets.helpers import make_generic

        make_generic(self.data, num=self.args.meshes, subdivisions=2)
        self.places["main"] = Place(self.work / "main", self.data, "main")
        mount = self.work / "small"
        mount.mkdir()
        if self.args.no_full_disk:
            self.full_disk_reason = "--no-full-disk given"
            return
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.args.small_mb}m", "tmpfs", str(mount)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            self.full_disk_reason = f"cannot mount a tmpfs: {(result.stderr or result.stdout).strip()[:200]}"
            return
        self.small_mount = mount
        self.places["small"] = Place(mount / "soak", self.data, "small")

    def teardown(self) -> None:
        for place in self.places.values():
            place.empty()
        if self.small_mount is not None:
            subprocess.run(["umount", str(self.small_mount)], capture_output=True)
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- one command ----------------------------------------------------------------------

    def command(self, what: str, place: Place) -> list[str] | None:
        gm = gaugemesh_cmd()
        if what == "preprocess":
            return gm + ["preprocess", str(self.data), "--out", str(place.cache)] + PREPROCESS_OPTIONS
        if what == "train-overwrite":
            return gm + ["train", "--config", str(place.config), "--overwrite", "--no-progress"]
        if what == "train-resume":
            return gm + ["train", "--config", str(place.config), "--resume", "--no-progress"]
        if what == "eval":
            return gm + ["eval", "--checkpoint", str(place.run / "best.pt"), "--data", str(self.data), "--split",
                         "train", "--cache", str(place.cache), "--json", str(place.base / "eval.json"), "--no-progress"]
        raise ValueError(what)

    def run(self, argv: list[str], kill_after: float | None, kill_parent_only: bool) -> tuple[int, str, str, int]:
        """Run ``argv`` in its own session; SIGKILL it after ``kill_after`` s. Returns the exit
        code, how it was killed (``""``, ``"group"``, ``"parent"``), stderr's last line and
        the number of orphans."""
        env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
        err_path = self.work / "stderr.txt"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=self.work, env=env,
                                    start_new_session=True)
        seen: dict[int, float] = {}
        started, killed = time.monotonic(), ""
        while proc.poll() is None:
            self._sample(proc.pid, seen)
            elapsed = time.monotonic() - started
            if kill_after is not None and not killed and elapsed >= kill_after:
                self._sample(proc.pid, seen)
                if kill_parent_only:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed = "parent"
                else:
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed = "group"
            if elapsed > HANG_S:
                self.problems.append(f"hung for {HANG_S:.0f}s, killed: {' '.join(argv[1:3])}")
                os.killpg(proc.pid, signal.SIGKILL)
                killed = killed or "hang"
            time.sleep(0.05)
        code = proc.wait()
        lines = [line for line in err_path.read_text(errors="replace").splitlines() if line.strip()]
        orphans = self._orphans(seen, exclude=proc.pid)
        return code, killed, (lines[-1] if lines else ""), orphans

    @staticmethod
    def _sample(pid: int, seen: dict[int, float]) -> None:
        try:
            parent = psutil.Process(pid)
            for p in [parent] + parent.children(recursive=True):
                seen.setdefault(p.pid, p.create_time())
        except psutil.Error:
            pass

    def _orphans(self, seen: dict[int, float], exclude: int) -> int:
        """Processes the command started (or naming the soak's folder) still alive after the grace period."""
        deadline = time.monotonic() + ORPHAN_GRACE_S
        while True:
            alive = [pid for pid, created in seen.items() if pid != exclude and _alive(pid, created)]
            alive += [p.pid for p in self._naming_work() if p.pid not in alive]
            if not alive or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for pid in alive:
            try:
                p = psutil.Process(pid)
                self.problems.append(f"orphan pid {pid}: {' '.join(p.cmdline())[:160]}")
                p.kill()  # one we started, by pid, so that the next round starts clean
            except psutil.Error:
                pass
        return len(alive)

    def _naming_work(self) -> list[psutil.Process]:
        me, found = os.getpid(), []
        for p in psutil.process_iter(["pid", "cmdline", "status"]):
            try:
                if p.pid != me and p.info["status"] != psutil.STATUS_ZOMBIE and \
                        any(str(self.work) in part for part in (p.info["cmdline"] or [])):
                    found.append(p)
            except psutil.Error:
                pass
        return found

    # -- invariants -----------------------------------------------------------------------

    def checkpoints(self) -> dict[Path, bool]:
        """Every best.pt / last.pt present, and whether it loads."""
        from gaugemesh.training.checkpoint import load_checkpoint

        found = {}
        for place in self.places.values():
            for name in ("best.pt", "last.pt"):
                path = place.run / name
                if path.exists():
                    try:
                        load_checkpoint(path)
                        found[path] = True
                    except Exception as exc:  # noqa: BLE001 - any failure is a broken checkpoint
                        found[path] = False
                        self.problems.append(f"broken checkpoint {path}: {type(exc).__name__}: {exc}")
        return found

    def check_entries(self) -> int:
        from gaugemesh.datasets.cache import load_entry

        corrupt = 0
        for place in self.places.values():
            for path in sorted(place.cache.glob("*/*.pt")) if place.cache.exists() else []:
                self.stats["entries_checked"] += 1
                try:
                    load_entry(path)
                except FileNotFoundError:
                    pass
                except Exception as exc:  # noqa: BLE001 - CacheError, or anything else: unusable
                    corrupt += 1
                    self.problems.append(f"corrupt entry {path}: {type(exc).__name__}: {exc}")
        return corrupt

    def temporaries(self) -> list[Path]:
        return sorted(p for p in self.work.rglob("*") if p.is_file() and is_temporary(p))

    # -- the loop -------------------------------------------------------------------------

    def pick(self, place: Place) -> str:
        has_last, has_best = (place.run / "last.pt").exists(), (place.run / "best.pt").exists()
        choices = ["preprocess", "train-overwrite"] + ["train-resume"] * 2 * has_last + ["eval"] * has_best
        return self.rng.choice(choices)

    def round(self, number: int, what: str | None = None, place: Place | None = None, kill: bool | None = None,
              full: bool | None = None) -> None:
        rng = self.rng
        if place is None:
            small = "small" in self.places and rng.random() < self.args.full_disk_fraction
            place = self.places["small" if small else "main"]
        full = place.name == "small" if full is None else full
        what = what or self.pick(place)
        if what in ("preprocess", "train-overwrite", "train-resume", "eval") and place.cache.exists() \
                and rng.random() < 0.4:  # drop some entries so that the command has work to do
            for entry in place.cache.glob("*/*.pt"):
                if rng.random() < 0.3:
                    entry.unlink()
        kill = rng.random() < self.args.kill_fraction if kill is None else kill
        kill_after = rng.uniform(0.3, self.args.kill_window) if kill else None
        # the parent alone mostly where it has children to leave behind: preprocess's workers
        parent_only = kill and rng.random() < (0.6 if what == "preprocess" else 0.25)
        free = place.fill(rng.randint(0, self.args.leave_kb) * 1024) if full else None
        before = self.checkpoints()
        temps_before = set(self.temporaries())
        t0 = time.monotonic()
        try:
            code, killed, last_line, orphans = self.run(self.command(what, place), kill_after, parent_only)
        finally:
            place.empty()
        seconds = time.monotonic() - t0
        after = self.checkpoints()
        corrupt = self.check_entries()
        lost = sum(not ok for ok in after.values())
        if what != "train-overwrite":  # --overwrite deletes the old run by design
            gone = [path for path, ok in before.items() if ok and path not in after]
            lost += len(gone)
            self.problems += [f"round {number}: {what} lost {path}" for path in gone]
        temps = [t for t in self.temporaries() if t not in temps_before]  # new ones only
        self.stats["rounds"] += 1
        self.stats["disk_full_rounds"] += full
        if killed in ("group", "parent"):
            self.stats[f"killed_{killed}"] += 1
            self.stats["temporaries_after_kill"] += len(temps)
        elif temps:
            self.counts["leaked_temporaries"] += len(temps)  # a command that ended by itself leaves none
            self.problems += [f"round {number}: {what} ended (exit {code}) leaving {t}" for t in temps]
        self.counts["corrupt_entries"] += corrupt
        self.counts["lost_checkpoints"] += lost
        self.counts["orphans"] += orphans
        outcome = f"killed ({killed})" if killed else f"exit {code}"
        self.outcomes.setdefault(what + (" [full disk]" if full else ""), {}).setdefault(outcome, 0)
        self.outcomes[what + (" [full disk]" if full else "")][outcome] += 1
        disk = f" free={free // 1024}KB" if free is not None else ""
        note = f" | {last_line[:110]}" if code not in (0, -9) and not killed else ""
        print(f"round {number:3d} {what:16s} {place.name:5s}{disk:13s} {outcome:15s} {seconds:5.1f}s "
              f"corrupt={corrupt} lost={lost} orphans={orphans} temps={len(temps)}{note}", flush=True)

    def recover(self) -> None:
        """Each command once more, unkilled, disk not full; then what is left counts."""
        print("recovery pass: preprocess, train --resume (or --overwrite), eval on each place, unkilled", flush=True)
        for place in self.places.values():
            self.round(-1, "preprocess", place, kill=False, full=False)
            resume = (place.run / "last.pt").exists()
            self.round(-1, "train-resume" if resume else "train-overwrite", place, kill=False, full=False)
            self.round(-1, "eval", place, kill=False, full=False)
        temps = self.temporaries()
        self.counts["leaked_temporaries"] += len(temps)
        self.problems += [f"after recovery: temporary file {t}" for t in temps]
        alive = self._naming_work()
        self.counts["orphans"] += len(alive)
        self.problems += [f"after the soak: process {p.pid} {' '.join(p.cmdline())[:160]}" for p in alive]


def _alive(pid: int, created: float) -> bool:
    try:
        p = psutil.Process(pid)
        return abs(p.create_time() - created) < 0.01 and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--meshes", type=int, default=8, help="icospheres (2 subdivisions) in the dataset")
    parser.add_argument("--kill-fraction", type=float, default=0.6, help="share of rounds killed with SIGKILL")
    parser.add_argument("--kill-window", type=float, default=7.0, help="kill within this many seconds of the start")
    parser.add_argument("--full-disk-fraction", type=float, default=0.3, help="share of rounds on the full tmpfs")
    parser.add_argument("--small-mb", type=int, default=16, help="size of the tmpfs")
    parser.add_argument("--leave-kb", type=int, default=250, help="leave at most this much free on a full disk")
    parser.add_argument("--no-full-disk", action="store_true", help="skip the full-disk rounds")
    parser.add_argument("--tmp", default=None, help="where to make the soak's folder (default: the system's)")
    parser.add_argument("--keep", action="store_true", help="keep the soak's folder")
    args = parser.parse_args(argv)

    soak = Soak(args)
    start = time.monotonic()
    print(f"soak: {args.rounds} rounds, seed {args.seed}, in {soak.work}", flush=True)
    try:
        soak.setup()
        if soak.full_disk_reason:
            print(f"full-disk rounds skipped: {soak.full_disk_reason}", flush=True)
        else:
            print(f"full disk: a {args.small_mb} MB tmpfs at {soak.small_mount}, filled to leave 0-{args.leave_kb} KB",
                  flush=True)
        for number in range(1, args.rounds + 1):
            soak.round(number)
        soak.recover()
    finally:
        soak.teardown()
    minutes = (time.monotonic() - start) / 60
    s, c = soak.stats, soak.counts
    print("\n== soak summary ==")
    rows = [("command", f"{sys.executable} -m experiments.soak " + " ".join(sys.argv[1:] if argv is None else argv)),
            ("rounds", f"{args.rounds} (+{s['rounds'] - args.rounds} recovery)"),
            ("killed (process group)", s["killed_group"]), ("killed (parent pid only)", s["killed_parent"]),
            ("disk-full rounds", s["disk_full_rounds"] if not soak.full_disk_reason
             else f"0 (skipped: {soak.full_disk_reason})"),
            ("cache entries checked", s["entries_checked"]), ("temporaries right after a kill", s["temporaries_after_kill"]),
            ("time", f"{minutes:.1f} min")]
    rows += [(k.replace("_", " "), v) for k, v in c.items()]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print("outcomes by command:")
    for what in sorted(soak.outcomes):
        print(f"  {what:28s} " + ", ".join(f"{k}: {v}" for k, v in sorted(soak.outcomes[what].items())))
    if soak.problems:
        print("problems:")
        for problem in soak.problems:
            print("  " + problem)
    failed = any(c.values())
    print("SOAK FAILED" if failed else "SOAK PASSED: zero corrupt entries, lost checkpoints, orphans, leaked temporaries")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
