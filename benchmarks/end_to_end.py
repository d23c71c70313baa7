"""`m365 run` end to end, ours against the previous design in the same run: wall time and peak RSS of a first run
and of a second run with no change in the source, at several tenant sizes, with the emulator in-process or served.

Each case (tree x source x users) runs the CLI in a subprocess, in a fresh data folder and a fresh DAGSTER_HOME
(holding the tree's own dagster.yaml), twice: the first run extracts and loads everything, the second sees the
same tenant again. "served" serves the tenant with `m365 emulator serve` in another process (the pipeline signs
in to it through M365_EMULATOR_URL and the same M365_EMULATOR_SEED), so the pipeline's figures are its own;
"in-process" keeps the emulator inside the pipeline process (M365_EMULATOR_USERS), as the embedded default does.

The baseline is the previous design, commit BASELINE_COMMIT, checked out with `git worktree add` into a temporary
folder. Both trees run on this venv's interpreter and packages, each with PYTHONPATH set to its own tree, so each
`m365` imports its own m365_pipeline (checked before the first case); the baseline's dependencies are a subset of
ours. Cases are interleaved (baseline, then ours, for each size), so drift in the machine hits both alike.

Two peaks of resident memory (RSS) per run: "proc", the highest of any one process of the run (the kernel's
ru_maxrss of the reaped `m365 run`, which covers its reaped children: exact, and the pipeline process itself
unless steps run in subprocesses) and "tree", the highest sum over all the processes of the run (sampled every
50 ms from /proc; it includes Dagster's helpers, e.g. a `tail -F` and an orphan watcher per step for the compute
logs). Ratios and criteria use "proc".

    .venv/bin/python benchmarks/end_to_end.py [--users 20000,100000] [--modes served,in-process] [--rounds 1]
        [--skip-baseline | --skip-ours] [--baseline-commit b8d2832]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from served_emulator import clean_environment, served_emulator

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BASELINE_COMMIT = "b8d2832"  # the design before issue 5: loads hold whole tables, a no-change run redoes everything
SEED = 2026
MODES = ("in-process", "served")
SAMPLE_SECONDS = 0.05
# The criteria, for ours (the baseline's figures are printed beside them for reference).
PEAK_GROWTH_LIMIT = 1.3  # peak RSS at the largest size / at the smallest, served
NO_CHANGE_LIMIT = 0.5  # wall time of the no-change run / the first run


@dataclass(frozen=True)
class Tree:
    name: str  # "ours" or "baseline"
    root: Path


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_kib: int  # the highest resident set of any one process of the run
    tree_peak_kib: int  # the highest sum of the resident sets of the run's processes
    processes: int  # the most processes seen in the run's tree at once


@dataclass(frozen=True)
class CaseResult:
    first: Measurement
    again: Measurement
    emulator_peak_kib: int | None  # served only


class RunFailed(Exception):
    pass


def measure(command: list[str], env: dict[str, str], cwd: Path, log: Path, timeout: float) -> Measurement:
    """Run ``command`` to its end, sampling its process tree; exit status other than 0 raises RunFailed."""
    with log.open("wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    sampled_peak = processes = 0
    try:
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                seconds = time.perf_counter() - started
                break
            if time.perf_counter() - started > timeout:
                raise RunFailed(f"{' '.join(command)} took more than {timeout:.0f} s; log: {_tail(log)}")
            tree = _process_tree(process.pid)
            sampled_peak = max(sampled_peak, sum(_resident_kib(member) for member in tree))
            processes = max(processes, len(tree))
            time.sleep(SAMPLE_SECONDS)
    except BaseException:  # a timeout, Ctrl-C or a fault here: no run is left behind
        os.killpg(process.pid, signal.SIGKILL)  # the run's own session, started above
        os.wait4(process.pid, 0)
        process.returncode = -signal.SIGKILL
        raise
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait for it again
    if process.returncode != 0:
        raise RunFailed(f"{' '.join(command)} exited with {process.returncode}: {_tail(log)}")
    peak = usage.ru_maxrss  # KiB on Linux
    return Measurement(seconds, peak, max(peak, sampled_peak), processes)


def _process_tree(root: int) -> list[int]:
    members, queue = [], [root]
    while queue:
        pid = queue.pop()
        members.append(pid)
        queue.extend(_children(pid))
    return members


def _children(pid: int) -> list[int]:
    """The children of every thread of ``pid``; none once it has ended (any process may end between two reads)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    children: list[int] = []
    for task in tasks:
        try:
            children.extend(int(child) for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split())
        except OSError:
            continue
    return children


def _resident_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)


def _tail(log: Path, lines: int = 8) -> str:
    return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])


def tree_environment(tree: Tree) -> dict[str, str]:
    return clean_environment() | {"PYTHONPATH": str(tree.root), "M365_EMULATOR_SEED": str(SEED)}


def check_tree(tree: Tree) -> None:
    """The tree's m365_pipeline is the one imported (not the venv's editable install)."""
    found = subprocess.run(
        [sys.executable, "-c", "import m365_pipeline; print(m365_pipeline.__file__)"],
        env=tree_environment(tree),
        cwd="/",  # not the project root, which `python -c` would put first on sys.path
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(tree.root.resolve()):
        raise SystemExit(f"{tree.name}: m365_pipeline imported from {found}, not from {tree.root}")


def run_case(tree: Tree, mode: str, users: int, folder: Path, m365: Path, timeout: float) -> CaseResult:
    home, data = folder / "dagster_home", folder / "data"
    home.mkdir(parents=True)
    if (tree.root / "dagster.yaml").is_file():
        shutil.copy(tree.root / "dagster.yaml", home / "dagster.yaml")
    environment = tree_environment(tree)
    pipeline = environment | {"DAGSTER_HOME": str(home), "M365_DATA_DIR": str(data)}
    with ExitStack() as stack:
        served = None
        if mode == "served":
            served = stack.enter_context(served_emulator(m365, users, environment, folder / "emulator.log"))
            pipeline["M365_EMULATOR_URL"] = served.url
        else:
            pipeline["M365_EMULATOR_USERS"] = str(users)
        first = measure([str(m365), "run"], pipeline, folder, folder / "run-first.log", timeout)
        again = measure([str(m365), "run"], pipeline, folder, folder / "run-again.log", timeout)
        return CaseResult(first, again, served.peak_rss_kib() if served else None)


@contextmanager
def baseline_tree(commit: str, parent: Path) -> Iterator[Path]:
    path = parent / f"baseline-{commit}"
    subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "worktree", "add", "--detach", "--quiet", str(path), commit], check=True
    )
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(PROJECT_ROOT), "worktree", "remove", "--force", str(path)], check=False)


Key = tuple[str, str, int]  # tree, mode, users


def _mib(kib: float) -> str:
    return f"{kib / 1024:6.0f}"


HEADER = (
    f"{'tree':9} {'mode':10} {'users':>7} | {'first s':>7} {'proc':>6} {'tree':>6} "
    f"| {'again s':>7} {'proc':>6} {'tree':>6} | emulator"
)


def _describe(result: CaseResult) -> str:
    """One case's figures: wall seconds and peak MiB (one process, whole tree) of the first and the no-change run."""
    runs = " | ".join(
        f"{run.seconds:7.1f} {_mib(run.peak_kib)} {_mib(run.tree_peak_kib)}" for run in (result.first, result.again)
    )
    return f"{runs} | " + (_mib(result.emulator_peak_kib) if result.emulator_peak_kib is not None else "    in")


def _median_result(measured: list[CaseResult]) -> CaseResult:
    def median(runs: list[Measurement]) -> Measurement:
        return Measurement(
            seconds=statistics.median(run.seconds for run in runs),
            peak_kib=int(statistics.median(run.peak_kib for run in runs)),
            tree_peak_kib=int(statistics.median(run.tree_peak_kib for run in runs)),
            processes=max(run.processes for run in runs),
        )

    emulator = [result.emulator_peak_kib for result in measured if result.emulator_peak_kib is not None]
    return CaseResult(
        median([result.first for result in measured]),
        median([result.again for result in measured]),
        int(statistics.median(emulator)) if emulator else None,
    )


def report(results: dict[Key, list[CaseResult]], modes: list[str], sizes: list[int], trees: list[str]) -> None:
    medians = {key: _median_result(measured) for key, measured in results.items() if measured}
    print("\nmedians over the rounds; peak RSS in MiB (proc: the largest process, tree: all the run's processes)")
    print(HEADER)
    for mode in modes:
        for users in sizes:
            for tree in trees:
                median = medians.get((tree, mode, users))
                print(f"{tree:9} {mode:10} {users:7} | {_describe(median) if median else 'not measured'}")

    print("\nours / baseline (below 1 is better)")
    for mode in modes:
        for users in sizes:
            ours, baseline = medians.get(("ours", mode, users)), medians.get(("baseline", mode, users))
            if not ours or not baseline:
                print(f"  {mode:10} {users:7}: n/a ({'ours' if not ours else 'baseline'} not measured)")
                continue
            print(
                f"  {mode:10} {users:7}: first run {ours.first.seconds / baseline.first.seconds:.2f} time, "
                f"{ours.first.peak_kib / baseline.first.peak_kib:.2f} peak; no-change run "
                f"{ours.again.seconds / baseline.again.seconds:.2f} time, "
                f"{ours.again.peak_kib / baseline.again.peak_kib:.2f} peak"
            )

    print("\nthe issue's criteria (for ours; the baseline's for reference)")
    smallest, largest = min(sizes), max(sizes)
    for tree in trees:
        low, high = medians.get((tree, "served", smallest)), medians.get((tree, "served", largest))
        if low and high and smallest != largest:
            growth = high.first.peak_kib / low.first.peak_kib
            verdict = "PASS" if growth <= PEAK_GROWTH_LIMIT else "FAIL"
            label = f"{largest} / {smallest} users"
            print(f"  {tree:9} peak RSS served, {label}: {growth:.2f} (<= {PEAK_GROWTH_LIMIT}) {verdict}")
        else:
            print(f"  {tree:9} peak RSS served, largest / smallest size: n/a (needs served runs at two sizes)")
        for mode in modes:
            for users in sizes:
                median = medians.get((tree, mode, users))
                if median:
                    share = median.again.seconds / median.first.seconds
                    verdict = "PASS" if share <= NO_CHANGE_LIMIT else "FAIL"
                    label = f"{mode} {users}"
                    print(f"  {tree:9} no-change / first run, {label}: {share:.2f} (<= {NO_CHANGE_LIMIT}) {verdict}")


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("give one or more tenant sizes of at least 1 user, e.g. 20000,100000")
    return sizes


def _modes(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(chosen) - set(MODES)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown mode(s) {', '.join(sorted(unknown))}; choose from {MODES}")
    return [mode for mode in MODES if mode in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=_sizes, default=[20_000, 100_000], help="comma-separated tenant sizes")
    parser.add_argument("--modes", type=_modes, default=["served"], help="in-process,served (default: served)")
    parser.add_argument("--rounds", type=int, default=1, help="repeats of every case (fresh folders); medians")
    parser.add_argument("--baseline-commit", default=BASELINE_COMMIT)
    skip = parser.add_mutually_exclusive_group()
    skip.add_argument("--skip-baseline", action="store_true", help="measure ours only")
    skip.add_argument("--skip-ours", action="store_true", help="measure the baseline only")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds before one `m365 run` is killed")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="m365-end-to-end-") as scratch, ExitStack() as stack:
        trees: list[Tree] = []
        if not arguments.skip_baseline:
            trees.append(Tree("baseline", stack.enter_context(baseline_tree(arguments.baseline_commit, Path(scratch)))))
        if not arguments.skip_ours:
            trees.append(Tree("ours", PROJECT_ROOT))
        for tree in trees:
            check_tree(tree)
        names = [tree.name for tree in trees]
        print(f"cases: {arguments.modes} x {arguments.users} users x {names}, {arguments.rounds} round(s)")
        print(HEADER, flush=True)
        results = run_cases(trees, arguments, Path(scratch))
    report(results, arguments.modes, arguments.users, names)


def run_cases(trees: list[Tree], arguments: argparse.Namespace, scratch: Path) -> dict[Key, list[CaseResult]]:
    m365 = Path(sys.executable).with_name("m365")
    results: dict[Key, list[CaseResult]] = {}
    for round_number in range(arguments.rounds):
        for users in arguments.users:
            for mode in arguments.modes:
                for tree in trees:
                    folder = scratch / f"{tree.name}-{mode}-{users}-{round_number}"
                    try:
                        result = run_case(tree, mode, users, folder, m365, arguments.timeout)
                    except RunFailed as failure:
                        print(f"{tree.name:9} {mode:10} {users:7} | FAILED {failure}", flush=True)
                        continue
                    finally:
                        shutil.rmtree(folder, ignore_errors=True)
                    results.setdefault((tree.name, mode, users), []).append(result)
                    print(f"{tree.name:9} {mode:10} {users:7} | {_describe(result)}", flush=True)
    return results


if __name__ == "__main__":
    main()
