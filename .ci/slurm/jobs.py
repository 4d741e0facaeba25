"""What a Snakemake dry run plans and what a SLURM run submitted (study_check.sh).

    python jobs.py plan  DRY_LOG                      -> one line: key=value ...
    python jobs.py grouping DRY_LOG                   -> "OK ..." / "FAIL ..." lines
    python jobs.py gpu DRY_LOG grouped|split PROFILE  -> "OK ..." / "FAIL ..." lines
    python jobs.py calls DRY_LOG SLURM_LOG PROFILE    -> "OK ..." / "FAIL ..." lines

`plan` reads a dry run (`snakemake -n`, Snakemake 9): its group jobs (a "Group job
NAME" block with indented "rule X:" entries) and its single jobs (a "rule X:" at the
start of a line; `all` runs locally and is left out). sbatch = group jobs + single
jobs. `grouping` checks the profile's design on a plan: one group job per training
(exactly one `train` in each), no per-run job (a `run` wildcard) outside a group but
`data`, so sbatch = data + runs + per-experiment and figure/claims jobs. `calls` compares the "sbatch call:" lines of a `--verbose` SLURM run with that
plan and with the profile's runtimes: one call per planned job, each group job asking
for the sum of its steps' runtimes (profile `set-resources`, attempt 1), each single
job for its rule's, every job for the largest mem_mb of its steps (from the dry run)
and 1 CPU.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

import yaml

LOCAL_RULES = {"all"}


def parse_plan(path: str) -> tuple[list[tuple[str, list[dict]]], list[dict]]:
    """(group jobs as (name, steps), single jobs); a step/job is a dict with rule,
    run (the `run` wildcard, or ''), mem_mb and runtime."""
    groups: list[tuple[str, list[dict]]] = []
    singles: list[dict] = []
    current: dict | None = None
    in_group = False
    for line in open(path):
        line = line.rstrip("\n")
        m = re.match(r"^\[[^\]]*\] Group job (\S+)", line)
        if m:
            groups.append((m.group(1), []))
            in_group = True
            continue
        m = re.match(r"^(    )?(?:local)?rule (\w+):$", line)
        if m:
            current = {"rule": m.group(2), "run": "", "mem_mb": None, "runtime": None, "gpu": None}
            if m.group(1) and in_group:
                groups[-1][1].append(current)
            else:
                in_group = False
                if current["rule"] not in LOCAL_RULES:
                    singles.append(current)
            continue
        if current is None:
            continue
        m = re.match(r"^\s+wildcards: (.*)$", line)
        if m:
            wc = dict(kv.split("=", 1) for kv in m.group(1).split(", ") if "=" in kv)
            current["run"] = wc.get("run", "")
        m = re.match(r"^\s+resources: (.*)$", line)
        if m:
            res = dict(kv.split("=", 1) for kv in m.group(1).split(", ") if "=" in kv)
            current["mem_mb"] = int(res["mem_mb"]) if res.get("mem_mb", "").isdigit() else None
            current["runtime"] = int(res["runtime"]) if res.get("runtime", "").isdigit() else None
            current["gpu"] = res.get("gpu")
    return groups, singles


def job_stats(path: str) -> dict[str, int]:
    text = open(path).read().split("Job stats:")[-1].split("\n\n")[0]  # printed first and last
    return {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", text, flags=re.M) if r != "total"}


def plan(dry_log: str) -> None:
    groups, singles = parse_plan(dry_log)
    stats = job_stats(dry_log)
    steps = sum(len(s) for _, s in groups) + len(singles)
    members = Counter(",".join(sorted(j["rule"] for j in s)) for _, s in groups)
    one_run = all(len({j["run"] for j in s}) == 1 for _, s in groups)
    out = {
        "predicted": len(groups) + len(singles),
        "groups": len(groups),
        "group_names": ",".join(sorted({n for n, _ in groups})) or "-",
        "group_members": ";".join(f"{k}x{v}" for k, v in sorted(members.items())) or "-",
        "one_run_per_group": int(one_run),
        "singles": len(singles),
        "steps": steps,
        "stats_jobs": sum(n for r, n in stats.items() if r not in LOCAL_RULES),
    }
    out.update({f"n_{r}": n for r, n in stats.items()})
    print(" ".join(f"{k}={v}" for k, v in out.items()))


def report(ok: bool, what: str) -> None:
    print(f"{'OK' if ok else 'FAIL'} {what}")


def grouping(dry_log: str) -> None:
    groups, singles = parse_plan(dry_log)
    stats = job_stats(dry_log)
    trains = [sum(j["rule"] == "train" for j in steps) for _, steps in groups]
    report(len(groups) == stats.get("train", 0) and set(trains) <= {1},
           f"one group job per training: {len(groups)} group jobs, {stats.get('train', 0)} trainings")
    loose = Counter(j["rule"] for j in singles if j["run"] and j["rule"] != "data")
    report(not loose, f"no per-run job outside a group ({dict(loose) or 'none'})")
    per_exp = {r: n for r, n in Counter(j["rule"] for j in singles).items()}
    report(len(groups) + len(singles) == stats.get("data", 0) + stats.get("train", 0)
           + sum(n for r, n in per_exp.items() if r != "data"),
           f"sbatch {len(groups) + len(singles)} = {stats.get('data', 0)} data + {stats.get('train', 0)} runs + "
           + " + ".join(f"{n} {r}" for r, n in sorted(per_exp.items()) if r != "data"))


def gpu(dry_log: str, layout: str, profile: str) -> None:
    """A plan made with `gpu: 1` on train: `grouped` (the profile's groups: each run's
    group job holds the GPU) or `split` (--groups without train: train alone asks it,
    with its own runtime; no analysis group job asks for a GPU)."""
    groups, singles = parse_plan(dry_log)
    stats = job_stats(dry_log)
    runtime, default_rt = profile_runtimes(profile)
    if layout == "grouped":
        holding = sum(any(j["rule"] == "train" and j["gpu"] == "1" for j in steps) for _, steps in groups)
        report(holding == len(groups) == stats.get("train", -1),
               f"grouped: all {len(groups)} group jobs contain train asking gpu=1 (the group job holds the GPU)")
        return
    trains = [j for j in singles if j["rule"] == "train"]
    report(len(trains) == stats.get("train", -1) and all(j["gpu"] == "1" for j in trains),
           f"split: {len(trains)} train jobs alone, each asking gpu=1")
    rts = {j["runtime"] for j in trains}
    report(rts == {runtime.get("train", default_rt)}, f"split: train keeps its profile runtime ({rts})")
    asking = [j["rule"] for _, steps in groups for j in steps if j["gpu"]]
    report(not any(j["rule"] == "train" for _, st in groups for j in st) and not asking,
           f"split: {len(groups)} CPU group jobs ({','.join(sorted({n for n, _ in groups}))}), none holds a GPU")


def profile_runtimes(path: str) -> tuple[dict[str, int], int]:
    prof = yaml.safe_load(open(f"{path}/config.yaml"))

    def minutes(value) -> int:
        return int(eval(str(value), {}, {"attempt": 1}))  # "120 * attempt" -> 120

    per_rule = {r: minutes(v["runtime"]) for r, v in prof["set-resources"].items() if "runtime" in v}
    return per_rule, minutes(prof["default-resources"]["runtime"])


def parse_call(line: str) -> dict:
    head = line.split(" --wrap=", 1)[0].split(" /dev/stdin", 1)[0]

    def flag(pattern: str) -> str | None:
        m = re.search(pattern, head)
        return m.group(1) if m else None

    return {
        "comment": flag(r"--comment '?([^' ]+)'?"),
        "t": flag(r" -t '?(\d+)'?"),
        "mem": flag(r" --mem '?(\d+)'?"),
        "cpus": flag(r" --cpus-per-task[= ]'?(\d+)'?"),
        "gpus": flag(r" --gpus[= ]'?([^' ]+)'?"),
    }


def calls(dry_log: str, slurm_log: str, profile: str) -> None:
    groups, singles = parse_plan(dry_log)
    runtime, default_rt = profile_runtimes(profile)
    rt = lambda rule: runtime.get(rule, default_rt)  # noqa: E731
    submitted = [parse_call(l) for l in open(slurm_log) if l.startswith("sbatch call: ")]

    # what each job should ask for: (kind, -t, --mem)
    want = Counter()
    for name, steps in groups:
        want[(f"group {name}", sum(rt(j["rule"]) for j in steps), max(j["mem_mb"] for j in steps))] += 1
    for j in singles:
        want[(j["rule"], rt(j["rule"]), j["mem_mb"])] += 1
    got = Counter()
    for c in submitted:
        comment = c["comment"] or ""
        m = re.match(r"rule_(.+?)_wildcards_", comment)
        if m:
            kind = m.group(1)
        else:  # a group job: comment rule_<group>_<its rules, sorted>
            name = next((n for n, _ in groups if comment.startswith(f"rule_{n}_")), comment)
            kind = f"group {name}"
        got[(kind, int(c["t"]) if c["t"] else None, int(c["mem"]) if c["mem"] else None)] += 1
    fmt = lambda cnt: ", ".join(f"{n}x {k} -t {t} --mem {m}" for (k, t, m), n in sorted(cnt.items(), key=str))  # noqa: E731
    report(len(submitted) == sum(want.values()),
           f"{len(submitted)} sbatch calls logged, {sum(want.values())} planned")
    report(got == want, f"sbatch -t/--mem per job as planned (profile runtimes; a group's: the sum "
                        f"of its steps'): got [{fmt(got)}]" + ("" if got == want else f", want [{fmt(want)}]"))
    cpus = Counter(c["cpus"] for c in submitted)
    report(set(cpus) == {"1"}, f"every sbatch call asks --cpus-per-task=1 ({dict(cpus)})")
    gpus = [c["gpus"] for c in submitted if c["gpus"]]
    report(not gpus, f"no sbatch call asks for a GPU ({gpus or 'none'})")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"plan": plan, "grouping": grouping, "gpu": gpu, "calls": calls}[cmd](*args)
