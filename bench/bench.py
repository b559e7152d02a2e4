#!/usr/bin/env python3
"""berth's benchmarks, side by side with runc, crun and the CNI bridge plugin.

    bench/bench.py --berth PATH --berth-bench PATH [--quick] [--out DIR]

Run it through bench/run.sh (or `make bench`), which builds berth in release mode
and installs the peers. Every figure is the median, min and max of repeated runs,
next to its peer measured in the same run (interleaved where the runs are short),
and the ratio berth / peer. Results go to DIR/latest.md and DIR/latest.json as
well as the terminal. Needs root. Never asserts on time: a missed goal is
reported, not an error.

Everything the benchmark makes is named after its pid (projects bench-*-PID,
bridges bb?PID, runc ids bench-PID-*, netns bench-PID) and is removed at the end,
also after an error or a signal.
"""
import argparse
import contextlib
import ctypes
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PID = os.getpid()
CNI_DIR = "/usr/lib/cni"
CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]  # berth's default set (ContainerConfig)
LIMITS = {"memory": "64Mi", "cpus": "0.5", "pids": 64}

# The rows, in the order of issue 7 (ids are stable: the smoke test checks them).
SIZES = ("small", "medium", "large")
ROW_IDS = (["start", "start.runtime", "start.seccomp", "attach"]
           + [f"scale.{verb}.{net}.{size}" for verb in ("apply", "destroy")
              for net in ("plain", "net") for size in SIZES]
           + ["scale.network-share", "plan.noop", "reconciler.cpu", "reconciler.rss", "restart",
              "overhead.per-container", "validate", "validate.rss", "version",
              "thousand.apply", "thousand.plan", "thousand.reconciler.cpu", "thousand.destroy",
              # issue 13: LAN attach and published ports; issue 14: healthchecks and log throughput
              "lan.attach", "lan.attach.probed", "ports.publish", "health.cpu", "health.latency",
              "logs.throughput", "logs.lines", "logs.line-writes"])


class Config:
    def __init__(self, quick):
        self.quick = quick
        self.start_rounds = 3 if quick else 20
        self.settle = 0.1  # seconds of quiet before each timed start (see bench_start)
        self.attach_rounds, self.attach_per_round = (1, 3) if quick else (10, 20)
        self.sizes = (2, 3, 4) if quick else (10, 50, 100)
        self.scale_reps = 2 if quick else 3
        self.steady = 3 if quick else 100
        self.plan_runs = 3 if quick else 20
        self.reconcile_warmup, self.reconcile_seconds, self.reconcile_window = (1, 3, 1) if quick else (3, 30, 5)
        self.restart_kills = 2 if quick else 5
        self.version_runs = 5 if quick else 50
        self.thousand = 4 if quick else 1000
        self.thousand_plans = 2 if quick else 5
        self.validate_containers, self.validate_networks = (100, 5) if quick else (1000, 20)
        self.validate_runs, self.validate_warmup, self.validate_peer_runs = (3, 1, 2) if quick else (50, 5, 3)
        self.lan_rounds, self.lan_per_round = (1, 2) if quick else (5, 10)  # lan attach, ports
        self.health_containers = 3 if quick else 100
        self.health_rounds, self.health_per_round = (1, 3) if quick else (5, 10)
        self.health_warmup, self.health_seconds, self.health_window = (2, 3, 1) if quick else (5, 30, 5)
        self.log_bytes, self.log_rounds = (4 << 20, 1) if quick else (256 << 20, 5)


# ---------------------------------------------------------------- measuring

def oci_seccomp(path, caps):
    """berth's default profile (Docker's format and semantics) as the OCI config.json
    section runc reads: includes/excludes resolved for `caps` on this machine, as
    Docker does before it hands a profile to runc."""
    with open(path) as f:
        profile = json.load(f)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    kernel = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])

    def holds(flt, exclude):
        if not flt:
            return True
        checks = []
        if "caps" in flt:
            checks.append(any(c in caps for c in flt["caps"]) if exclude else all(c in caps for c in flt["caps"]))
        if "arches" in flt:
            checks.append(arch in flt["arches"])
        if "minKernel" in flt:
            checks.append(kernel >= tuple(int(x) for x in flt["minKernel"].split(".")[:2]))
        return not any(checks) if exclude else all(checks)

    native = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}.get(arch)
    arches = [native] if native else []
    for entry in profile.get("archMap", []):
        if entry["architecture"] == native:
            arches += entry.get("subArchitectures") or []
    syscalls = []
    for rule in profile["syscalls"]:
        if not holds(rule.get("includes"), False) or not holds(rule.get("excludes"), True):
            continue
        out = {"names": rule["names"], "action": rule["action"]}
        for key in ("errnoRet", "args"):
            if key in rule:
                out[key] = rule[key]
        syscalls.append(out)
    return {"defaultAction": profile["defaultAction"], "defaultErrnoRet": profile.get("defaultErrnoRet", 1),
            "architectures": arches, "syscalls": syscalls}


def log(text):
    print(text, file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    p = subprocess.run(cmd, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {p.returncode}: "
                           f"{(p.stderr or b'').decode(errors='replace').strip()[-2000:]}")
    return p


def timed(cmd, check=True, **kw):
    """Milliseconds from spawning `cmd` to its exit, and the finished process."""
    kw.setdefault("stdout", subprocess.DEVNULL)
    start = time.perf_counter_ns()
    p = run(cmd, check=False, **kw)
    ms = (time.perf_counter_ns() - start) / 1e6
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {p.returncode}: "
                           f"{(p.stderr or b'').decode(errors='replace').strip()[-2000:]}")
    return ms, p


def stats(samples):
    if not samples:
        return None
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "n": len(samples), "samples": [round(s, 4) for s in samples]}


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.002)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def status_kib(pid, field):
    for line in (read(f"/proc/{pid}/status") or "").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


# ---------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args):
        self.c = Config(args.quick)
        self.berth = os.path.abspath(args.berth)
        self.tool = os.path.abspath(args.berth_bench)
        self.out = os.path.abspath(args.out)
        self.work = f"/tmp/berth-bench-{PID}"
        self.state = f"{self.work}/state"
        self.runc_root = f"{self.work}/runc"
        self.rootfs = f"{self.work}/rootfs"
        self.netns = f"bench-{PID}"
        self.octet = 10 + PID % 240  # third octet of every subnet: two runs at once rarely meet
        self.bridges = {k: f"bb{k}{PID}"[:15] for k in ("a", "c", "n", "s", "t", "u", "l", "p", "q")}
        self.projects = set()       # berth projects to destroy at the end
        self.project_names = set()  # every project the run made, for the record
        self.runc_ids = set()       # runc/crun containers to delete at the end
        self.netns_made = False
        self.namespaces = set()     # named network namespaces of the LAN rows, deleted at the end
        self.reconciler = None
        self.rows = {}
        self.findings = []          # problems of berth's seen on the way (not timings)
        self.sections = []          # how long each section ran, and the load around it
        self.peers = {}

    # -------------------------------------------------------- setup

    def setup(self):
        for d in (self.work, self.state, self.runc_root, self.out):
            os.makedirs(d, exist_ok=True)
        self.make_rootfs()
        self.bundle_true = self.make_bundle("true", ["/bin/true"])
        self.bundle_seccomp = self.make_bundle("true-seccomp", ["/bin/true"], seccomp=True)
        self.bundle_sleep = self.make_bundle("sleep", ["/bin/sleep", "3600"])
        self.peers = self.find_peers()

    def make_rootfs(self):
        """busybox-static with a link per applet: the same tree for berth, runc and crun."""
        for d in ("bin", "proc", "sys", "dev", "etc", "root", "tmp", "var"):
            os.makedirs(f"{self.rootfs}/{d}", exist_ok=True)
        shutil.copy2("/bin/busybox", f"{self.rootfs}/bin/busybox")
        applets = run(["/bin/busybox", "--list"]).stdout.decode().split()
        for a in applets:
            if a != "busybox" and not os.path.lexists(f"{self.rootfs}/bin/{a}"):
                os.symlink("busybox", f"{self.rootfs}/bin/{a}")
        with open(f"{self.rootfs}/etc/passwd", "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n")
        # The log rows' writer (busybox's dd cannot time itself): static, in the same root.
        run(["gcc", "-O2", "-static", "-o", f"{self.rootfs}/bin/bench-write", f"{REPO}/bench/bench-write.c"])

    def make_bundle(self, name, args, seccomp=False):
        """An OCI bundle from `runc spec`, edited to match what berth does for the same spec:
        namespaces pid, network, ipc, uts, mount (runc's default, berth's default); berth's
        capabilities; the same memory, CPU and pids limits; no rlimits (berth sets none);
        the mounts berth makes (runc's default list without the /sys/fs/cgroup mount)."""
        bundle = f"{self.work}/bundle-{name}"
        os.makedirs(bundle, exist_ok=True)
        run(["runc", "spec", "--bundle", bundle])
        with open(f"{bundle}/config.json") as f:
            c = json.load(f)
        p = c["process"]
        p["terminal"] = False
        p["args"] = args
        p["env"] = ["PATH=/bin"]
        p["capabilities"] = {k: CAPS for k in ("bounding", "effective", "permitted")}
        p.pop("rlimits", None)
        c["root"] = {"path": self.rootfs, "readonly": False}
        c["hostname"] = "c"
        c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/sys/fs/cgroup"]
        c["linux"]["resources"].update({"memory": {"limit": 64 << 20},
                                        "cpu": {"quota": 50000, "period": 100000},
                                        "pids": {"limit": 64}})
        assert sorted(n["type"] for n in c["linux"]["namespaces"]) == ["ipc", "mount", "network", "pid", "uts"]
        if seccomp:
            c["linux"]["seccomp"] = oci_seccomp(f"{REPO}/profiles/seccomp/default.json", CAPS)
        with open(f"{bundle}/config.json", "w") as f:
            json.dump(c, f, indent=1)
        return bundle

    def find_peers(self):
        """The peers and their Debian package versions."""
        peers = {}
        for name, path, package in (("runc", shutil.which("runc"), "runc"), ("crun", shutil.which("crun"), "crun"),
                                    ("cni bridge", f"{CNI_DIR}/bridge", "containernetworking-plugins")):
            present = bool(path) and os.access(path, os.X_OK)
            version = run(["dpkg-query", "-W", "-f=${Version}", package], check=False).stdout.decode().strip()
            peers[name] = {"path": path if present else None,
                           "version": (f"{package} {version}" if version else path) if present else None}
        return peers

    # -------------------------------------------------------- berth helpers

    def spec(self, project, containers, network=False, command=("/bin/sleep", "3600"), restart=None,
             subnet_octet=None, extra=()):
        lines = ["version: 1", f"project: {project}"]
        if network:
            lines += ["networks:",
                      f"  n: {{subnet: 10.233.{subnet_octet or self.octet}.0/24, bridge: {self.bridges['n']}}}"]
        lines.append("containers:")
        for i in range(containers):
            lines += [f"  c{i}:",
                      f"    rootfs: {self.rootfs}",
                      f"    command: {json.dumps(list(command))}",
                      f"    resources: {{memory: {LIMITS['memory']}, cpus: {LIMITS['cpus']}, pids: {LIMITS['pids']}}}"]
            if restart:
                lines.append(f"    restart: {restart}")
            if network:
                lines.append("    networks: {n: {}}")
            lines += extra
        path = f"{self.work}/{project}.yaml"
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.projects.add((project, path))
        self.project_names.add(project)
        return path

    def berth_cmd(self, *args):
        return [self.berth, *args, "--state-dir", self.state]

    def status(self, project):
        out = run(self.berth_cmd("status", "-p", project, "--output", "json")).stdout
        return json.loads(out)["containers"]

    def destroy(self, project, path):
        run(self.berth_cmd("destroy", "-f", path))

    def expect_running(self, project, n):
        states = [c["state"] for c in self.status(project)]
        if states.count("running") != n:
            raise RuntimeError(f"{project}: expected {n} running containers, found {states}")

    # -------------------------------------------------------- runc helpers

    def runc(self, tool, *args):
        return [tool, "--root", self.runc_root, *args]

    def runc_state(self, tool, cid):
        p = run(self.runc(tool, "state", cid), check=False)
        return json.loads(p.stdout)["status"] if p.returncode == 0 else None

    def cni_conf(self, bridge, octet2, name):
        return json.dumps({
            "cniVersion": "1.0.0", "name": name, "type": "bridge", "bridge": bridge,
            # berth's per-attach work does not touch the bridge's address or ip_forward,
            # so the plugin is not asked to either (isGateway false); the route is explicit.
            "isGateway": False,
            "ipam": {"type": "host-local", "subnet": f"10.{octet2}.{self.octet}.0/24",
                     "gateway": f"10.{octet2}.{self.octet}.1", "dataDir": f"{self.work}/cni",
                     "routes": [{"dst": "0.0.0.0/0", "gw": f"10.{octet2}.{self.octet}.1"}]}}).encode()

    def cni_env(self, command, cid, netns):
        return {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns, "CNI_IFNAME": "eth0",
                "CNI_PATH": CNI_DIR, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}

    # -------------------------------------------------------- rows

    def add(self, rid, label, unit, berth, peer=None, peer_name=None, peer_error=None, goal=None,
            goal_ok=None, notes=None, count=None, ratio=None):
        row = {"id": rid, "label": label, "unit": unit, "berth": berth, "peer_name": peer_name,
               "peer": peer, "peer_error": peer_error, "goal": goal, "goal_met": goal_ok,
               "notes": notes or [], "count": count}
        if ratio is None and berth and peer and peer["median"]:
            ratio = berth["median"] / peer["median"]
        row["ratio"] = ratio
        self.rows[rid] = row
        log(f"  {render_line(row)}")

    # 1. container start
    def bench_start(self):
        log("1. container start: berth apply vs runc run -d (vs crun run -d), /bin/true with limits")
        project = f"bench-start-{PID}"
        path = self.spec(project, 1, command=("/bin/true",), restart="never")
        exit_record = f"{self.state}/{project}/containers/c0/exit.json"
        berth, runc_t, crun_t, runtime, runtime_cold, runtime_attach = [], [], [], [], [], []
        runc_seccomp, runtime_unconfined = [], []
        self.crun_error = None if self.peers["crun"]["path"] else "crun is not installed"
        settle = self.c.settle

        def berth_apply(r):
            time.sleep(settle)
            ms, _ = timed(self.berth_cmd("apply", "-f", path))
            wait_until(lambda: os.path.exists(exit_record), 10, "berth's container to run /bin/true")
            record = json.load(open(exit_record))
            if record.get("exitCode") != 0:
                raise RuntimeError(f"/bin/true under berth ended with {record}")
            berth.append(ms)
            self.destroy(project, path)

        def oci(tool, samples, bundle=None):
            def go(r):
                if tool == "crun" and self.crun_error:
                    return
                cid = f"bench-{PID}-{tool}-{r}"
                self.runc_ids.add((tool, cid))
                time.sleep(settle)
                ms, p = self.timed_detached(self.runc(tool, "run", "-d", "--bundle", bundle or self.bundle_true, cid))
                if p.returncode != 0:
                    err = p.stderr.decode(errors="replace").strip()
                    run(self.runc(tool, "delete", "-f", cid), check=False)
                    self.runc_ids.discard((tool, cid))
                    if tool == "crun":
                        self.crun_error = err.splitlines()[-1] if err else f"exit {p.returncode}"
                        return
                    raise RuntimeError(f"runc run failed: {err}")
                wait_until(lambda: self.runc_state(tool, cid) in ("stopped", None), 10, f"{tool} to run /bin/true")
                run(self.runc(tool, "delete", "-f", cid))
                self.runc_ids.discard((tool, cid))
                samples.append(ms)
            return go

        def in_process(r):
            # Two starts in one process: the first pays once-per-process costs (sealing the
            # binary, Swift metadata, JSON coders) that a long-lived caller such as the
            # reconciler pays once; the second is what such a caller sees. Both after the
            # same settle pause as the command lines.
            out = run([self.tool, "start", "--runs", "2", "--berth", self.berth, "--rootfs", self.rootfs,
                       "--work", f"{self.work}/runtime-{r}", "--cgroup", f"berth-bench-{PID}",
                       "--pause-ms", str(int(settle * 1000))]).stdout
            result = json.loads(out)
            first, second = result["samples_ms"]
            runtime_cold.append(first)
            runtime.append(second)
            runtime_attach.append(result["cgroup_attach_ms"][1])

        def in_process_unconfined(r):
            # The same as in_process without the seccomp filter: the difference is what the
            # filter costs a start (the compile is cached after a process's first start).
            out = run([self.tool, "start", "--runs", "2", "--berth", self.berth, "--rootfs", self.rootfs,
                       "--work", f"{self.work}/runtime-unconfined-{r}", "--cgroup", f"berth-bench-{PID}",
                       "--pause-ms", str(int(settle * 1000)), "--seccomp", "unconfined"]).stdout
            runtime_unconfined.append(json.loads(out)["samples_ms"][1])

        contenders = [berth_apply, oci("runc", runc_t), oci("crun", crun_t), in_process,
                      in_process_unconfined, oci("runc", runc_seccomp, self.bundle_seccomp)]
        for r in range(self.c.start_rounds):
            # A different order each round: whoever runs right after another's cgroup
            # writes may find the kernel's cgroup lock still in its fast state.
            for i in range(len(contenders)):
                contenders[(r + i) % len(contenders)](r)
        crun_error = self.crun_error
        runc_s = stats(runc_t)
        crun_s = stats(crun_t)
        notes = ["both timed from the command line to the CLI's exit, when /bin/true has been exec'd "
                 "(berth apply: parse, observe, plan, cgroups, init, records; runc run -d: create + start); "
                 f"each after {settle * 1000:.0f} ms of quiet, in a rotating order: the first write to "
                 "cgroup.procs after a quiet spell waits for an RCU grace period (row 1b's notes say "
                 "how long), for both"]
        if crun_error:
            notes.append(f"crun {self.peers['crun']['version'] or ''}: refused: \"{crun_error}\"")
        elif crun_s:
            notes.append(f"crun run -d: median {fmt_ms(crun_s['median'])} "
                         f"({fmt_ms(crun_s['min'])}–{fmt_ms(crun_s['max'])}), "
                         f"berth/crun {stats(berth)['median'] / crun_s['median']:.2f}")
        b = stats(berth)
        self.add("start", "Container start (CLI): berth apply vs runc run -d", "ms", b, runc_s, "runc run -d",
                 goal="≤ 0.5 × runc (issue 16)", goal_ok=b["median"] <= 0.5 * runc_s["median"], notes=notes)
        self.rows["start"]["crun"] = crun_s
        self.rows["start"]["crun_error"] = crun_error
        rt, cold, attach = stats(runtime), stats(runtime_cold), stats(runtime_attach)
        self.add("start.runtime", "Container start, runtime alone (in-process, no CLI)", "ms", rt, runc_s,
                 "runc run -d", goal="≤ 10 ms median (issue 3)", goal_ok=rt["median"] <= 10,
                 notes=["ContainerRuntime.start with the cgroup and its limits, timed inside berth-bench "
                        "until init reports the exec: the second start of a process, after the same pause "
                        "(the first: median "
                        f"{fmt_ms(cold['median'])} ({fmt_ms(cold['min'])}–{fmt_ms(cold['max'])})); "
                        f"of which the write of init's pid to cgroup.procs: median {fmt_ms(attach['median'])} "
                        f"({fmt_ms(attach['min'])}–{fmt_ms(attach['max'])}); "
                        "the peer is still runc's whole CLI run"])
        self.rows["start.runtime"]["cgroup_attach"] = attach
        self.rows["start.runtime"]["first_start"] = cold
        seccomp_s, unconfined = stats(runc_seccomp), stats(runtime_unconfined)
        cost = rt["median"] - unconfined["median"]
        self.add("start.seccomp", "Container start with the default seccomp profile: berth apply vs runc run -d "
                 "with the same profile in config.json", "ms", b, seccomp_s, "runc run -d + seccomp",
                 goal="filter < 0.5 ms of berth's start; berth ahead of runc",
                 goal_ok=cost < 0.5 and b["median"] < seccomp_s["median"],
                 notes=[f"the filter's cost, in-process (ContainerRuntime.start, second start of a process, "
                        f"default profile vs unconfined): median {fmt_ms(rt['median'])} vs "
                        f"{fmt_ms(unconfined['median'])}, a difference of {cost:.3f} ms",
                        f"runc without the profile (row 1): median {fmt_ms(runc_s['median'])}; with it: "
                        f"{fmt_ms(seccomp_s['median'])}",
                        "runc's profile is berth's default.json with includes/excludes resolved for the "
                        "bundle's capabilities, as Docker hands it over"])

    # 2. network attach
    def bench_attach(self):
        log("2. network attach: berth (netlink, in-process) vs CNI bridge plugin ADD (host-local IPAM)")
        if not self.peers["cni bridge"]["path"]:
            raise RuntimeError(f"{CNI_DIR}/bridge is missing (Debian containernetworking-plugins)")
        run(["ip", "netns", "add", self.netns])
        self.netns_made = True
        netns_path = f"/run/netns/{self.netns}"
        conf = self.cni_conf(self.bridges["c"], 232, f"berth-bench-{PID}")
        berth, add, delete = [], [], []
        per = self.c.attach_per_round
        for r in range(self.c.attach_rounds):
            out = run([self.tool, "attach", "--runs", str(per + 1), "--bridge", self.bridges["a"],
                       "--subnet", f"10.231.{self.octet}.0/24", "--project", f"bench-{PID}"]).stdout
            berth += json.loads(out)["samples_ms"][1:]  # the first run warms the caches up
            for i in range(per + 1):
                cid = f"bench-{PID}-attach-{r}-{i}"
                ms, p = timed([f"{CNI_DIR}/bridge"], input=conf, env=self.cni_env("ADD", cid, netns_path),
                              stdout=subprocess.PIPE)
                result = json.loads(p.stdout) if p.stdout else {}
                del_ms, _ = timed([f"{CNI_DIR}/bridge"], input=conf, env=self.cni_env("DEL", cid, netns_path))
                if i == 0:
                    continue  # the first ADD made the bridge
                if not result.get("ips"):
                    raise RuntimeError(f"CNI ADD returned no address: {result}")
                add.append(ms)
                delete.append(del_ms)
        b, a, d = stats(berth), stats(add), stats(delete)
        self.add("attach", "Network attach: veth, master, up, address, route", "ms", b, a,
                 "CNI bridge ADD", goal="≤ 0.33 × plugin; < 5 ms median (issue 5)",
                 goal_ok=b["median"] <= 0.33 * a["median"] and b["median"] < 5,
                 notes=["berth: the netlink calls of the engine's attach, timed in-process (berth-bench attach); "
                        "plugin: one exec of bridge (which execs host-local), timed from spawn to exit",
                        f"the plugin's DEL: median {fmt_ms(d['median'])} ({fmt_ms(d['min'])}–{fmt_ms(d['max'])}); "
                        "berth has no separate detach: the veth goes with the container's namespace"])

    # 3. scale
    def scale_peer_scripts(self, n, network, ids_prefix, bundle):
        piddir = f"{self.work}/pids-{ids_prefix}"
        os.makedirs(piddir, exist_ok=True)
        conf = f"{self.work}/cni-{ids_prefix}.json"
        with open(conf, "wb") as f:
            f.write(self.cni_conf(self.bridges["s"], 234, f"berth-bench-{PID}-s"))
        cni = (f'CNI_CONTAINERID={ids_prefix}-$i CNI_NETNS=/proc/$pid/ns/net CNI_IFNAME=eth0 '
               f'CNI_PATH={CNI_DIR} {CNI_DIR}/bridge < {conf} >/dev/null')
        up = ["set -e", "i=0", f"while [ $i -lt {n} ]; do",
              f"  runc --root {self.runc_root} run -d --bundle {bundle} --pid-file {piddir}/$i {ids_prefix}-$i"]
        if network:
            up += [f"  read pid < {piddir}/$i || true  # runc writes no newline", f"  CNI_COMMAND=ADD {cni}"]
        up += ["  i=$((i+1))", "done"]
        down = ["set -e", "i=0", f"while [ $i -lt {n} ]; do"]
        if network:
            down += [f"  read pid < {piddir}/$i || true", f"  CNI_COMMAND=DEL {cni}"]
        down += [f"  runc --root {self.runc_root} delete -f {ids_prefix}-$i", "  i=$((i+1))", "done"]
        if network:
            down.append(f"ip link del {self.bridges['s']}")
        return "\n".join(up) + "\n", "\n".join(down) + "\n"

    def timed_detached(self, cmd):
        """`timed` for commands that leave a container running: runc gives the container its
        own stdio, so a pipe would stay open for as long as the container lives."""
        errors = f"{self.work}/peer-errors.log"
        with open(errors, "wb") as err:
            ms, p = timed(cmd, check=False, stdin=subprocess.DEVNULL, stderr=err)
        p.stderr = open(errors, "rb").read()
        return ms, p

    def run_peer(self, n, network, tag, bundle):
        prefix = f"bench-{PID}-{tag}"
        for i in range(n):
            self.runc_ids.add(("runc", f"{prefix}-{i}"))
        up, down = self.scale_peer_scripts(n, network, prefix, bundle)
        up_ms, p = self.timed_detached(["sh", "-c", up])
        if p.returncode != 0:
            raise RuntimeError(f"peer start loop failed: {p.stderr.decode(errors='replace').strip()[-2000:]}")
        return prefix, down, up_ms

    def stop_peer(self, n, prefix, down):
        ms, p = self.timed_detached(["sh", "-c", down])
        if p.returncode != 0:
            raise RuntimeError(f"peer delete loop failed: {p.stderr.decode(errors='replace').strip()[-2000:]}")
        for i in range(n):
            self.runc_ids.discard(("runc", f"{prefix}-{i}"))
        return ms

    def bench_scale(self):
        log("3. scale: apply and destroy of N containers from nothing, berth vs a loop of runc run -d (+ CNI ADD)")
        medians = {}
        for size, n in zip(SIZES, self.c.sizes):
            for net in ("plain", "net"):
                network = net == "net"
                project = f"bench-scale-{PID}-{n}-{net}"
                path = self.spec(project, n, network=network)
                b_up, b_down, p_up, p_down = [], [], [], []
                for rep in range(self.c.scale_reps):
                    ms, _ = timed(self.berth_cmd("apply", "-f", path))
                    self.expect_running(project, n)
                    b_up.append(ms)
                    ms, _ = timed(self.berth_cmd("destroy", "-f", path))
                    b_down.append(ms)
                    prefix, down, ms = self.run_peer(n, network, f"s{n}{net[0]}{rep}", self.bundle_sleep)
                    p_up.append(ms)
                    p_down.append(self.stop_peer(n, prefix, down))
                what = "networked" if network else "no network"
                peer = "runc run -d" + (" + CNI ADD" if network else "") + f", × {n}"
                for verb, bs, ps, pname in (("apply", b_up, p_up, peer),
                                            ("destroy", b_down, p_down, peer.replace("run -d", "delete -f")
                                             .replace("ADD", "DEL"))):
                    b = stats(bs)
                    goal, ok = None, None
                    if size == "large" and n >= 100:
                        goal, ok = "< 2 s", b["median"] < 2000
                    label = f"{verb.capitalize()} {n} containers, {what}"
                    self.add(f"scale.{verb}.{net}.{size}", label, "ms", b, stats(ps), pname, goal=goal,
                             goal_ok=ok, count=n,
                             notes=[f"per container: berth {fmt_ms(b['median'] / n)}, "
                                    f"peer {fmt_ms(statistics.median(ps) / n)}"])
                medians[(net, size)] = statistics.median(b_up)
        n = self.c.sizes[-1]
        share = medians[("net", "large")] - medians[("plain", "large")]
        self.add("scale.network-share", f"Networking's share of applying {n} containers (net − plain medians)",
                 "ms", {"median": share, "min": None, "max": None, "n": 1, "samples": [share]},
                 goal="< 1 s (issue 5)" if n >= 100 else None, goal_ok=share < 1000 if n >= 100 else None,
                 count=n, notes=["the difference of two medians; it holds the bridge, its nft rules "
                                 "and every attach"])

    # 4-8. with containers running
    def bench_steady(self):
        n = self.c.steady
        project = f"bench-steady-{PID}"
        path = self.spec(project, n, network=True, subnet_octet=self.octet)
        log(f"4-8. {n} running containers, networked (project {project})")
        run(self.berth_cmd("apply", "-f", path))
        self.expect_running(project, n)

        # 4. no-op plan, against runc list over as many running runc containers
        prefix, down, _ = self.run_peer(n, False, "steady", self.bundle_sleep)
        plans, lists = [], []
        for _ in range(self.c.plan_runs):
            ms, p = timed(self.berth_cmd("plan", "-f", path, "--detailed-exitcode"), check=False)
            if p.returncode != 0:
                raise RuntimeError(f"plan over running containers is not a no-op (exit {p.returncode})")
            plans.append(ms)
            ms, _ = timed(self.runc("runc", "list"))
            lists.append(ms)
        self.stop_peer(n, prefix, down)
        b = stats(plans)
        self.add("plan.noop", f"No-op plan, {n} running containers", "ms", b, stats(lists),
                 f"runc list, {n} running", goal="< 50 ms", goal_ok=b["median"] < 50, count=n,
                 notes=["plan observes cgroups, /proc, netlink and nft, diffs, and prints; "
                        "runc list only reads its state files and checks each pid"])

        # 6. per-container memory: berth init's anonymous memory
        containers = self.status(project)
        anon = [status_kib(c["pid"], "RssAnon") for c in containers if c.get("pid")]
        rss = [status_kib(c["pid"], "VmRSS") for c in containers if c.get("pid")]
        anon = [a for a in anon if a is not None]
        b = stats([a / 1024 for a in anon])
        self.add("overhead.per-container", "Per-container overhead: RssAnon of berth-init", "MiB", b,
                 {"median": 0.0, "min": 0.0, "max": 0.0, "n": n, "samples": []}, "runc (no process of its own)",
                 goal="≤ 256 KiB (issue 16)", goal_ok=b["median"] <= 0.25 and b["max"] <= 0.25, count=n,
                 notes=[f"over {len(anon)} inits; their whole VmRSS (shared pages of the binary included): "
                        f"median {statistics.median(rss) / 1024:.2f} MiB",
                        "runc leaves no process per container after run -d (containerd would add a shim; "
                        "not installed here)"])

        # 5. the reconciler at rest, measured last
        self.bench_reconciler(project, path, n)

        run(self.berth_cmd("destroy", "-f", path))
        self.projects.discard((project, path))

    def bench_reconciler(self, project, path, n):
        c = self.c
        log(f"5. reconciler at rest: {n} containers, --interval 1s, {c.reconcile_seconds} s "
            f"in {c.reconcile_window} s windows")
        logfile = open(f"{self.work}/reconcile.log", "wb")
        self.reconciler = subprocess.Popen(self.berth_cmd("reconcile", "-f", path, "--interval", "1s"),
                                           stdout=logfile, stderr=subprocess.STDOUT)
        rpid = self.reconciler.pid
        wait_until(lambda: b"reconciler started" in open(f"{self.work}/reconcile.log", "rb").read()
                   or self.reconciler.poll() is not None, 30, "the reconciler to start")
        if self.reconciler.poll() is not None:
            raise RuntimeError("berth reconcile exited: " + read(f"{self.work}/reconcile.log", ""))
        time.sleep(c.reconcile_warmup)

        def cpu_ns():
            total = 0
            for tid in os.listdir(f"/proc/{rpid}/task"):
                total += int((read(f"/proc/{rpid}/task/{tid}/schedstat") or "0").split()[0])
            fields = read(f"/proc/{rpid}/stat").rsplit(")", 1)[1].split()
            children_ticks = int(fields[13]) + int(fields[14])  # cutime + cstime (nft, reaped)
            return total + children_ticks * 1e9 / os.sysconf("SC_CLK_TCK")

        shares, rss = [], []
        t0, c0 = time.monotonic(), cpu_ns()
        first_t, first_c = t0, c0
        for _ in range(int(c.reconcile_seconds / c.reconcile_window)):
            time.sleep(c.reconcile_window)
            t1, c1 = time.monotonic(), cpu_ns()
            shares.append(100 * (c1 - c0) / ((t1 - t0) * 1e9))
            rss.append(status_kib(rpid, "VmRSS") / 1024)
            t0, c0 = t1, c1
        overall = 100 * (c0 - first_c) / ((t0 - first_t) * 1e9)
        hwm = status_kib(rpid, "VmHWM") / 1024
        passes = open(f"{self.work}/reconcile.log", "rb").read().count(b"\n")
        b = stats(shares)
        self.add("reconciler.cpu", f"Reconciler at rest, {n} containers, 1 s interval: CPU", "% of a core", b,
                 goal="< 1 %", goal_ok=overall < 1, count=n,
                 notes=[f"over {c.reconcile_seconds} s: {overall:.2f} % of one core "
                        f"(median/min/max over {c.reconcile_window} s windows; threads' schedstat "
                        "plus reaped children such as nft)"])
        r = stats(rss)
        self.add("reconciler.rss", f"Reconciler at rest, {n} containers: resident memory", "MiB", r,
                 goal="< 30 MiB", goal_ok=hwm < 30, count=n,
                 notes=[f"VmRSS sampled each window; peak (VmHWM) {hwm:.1f} MiB; log lines: {passes}"])

        # 8. restart after a kill (issue 6), with the reconciler still running
        self.bench_restart(project, n)

        self.stop_reconciler()
        logfile.close()
        for line in open(f"{self.work}/reconcile.log", errors="replace"):
            if "level=error" in line or "changed outside berth" in line:
                self.findings.append(f"reconcile.log: `{line.strip()[:300]}`")
        shutil.copy(f"{self.work}/reconcile.log", f"{self.out}/reconcile.log")

    def stop_reconciler(self):
        """SIGTERM, as systemd would; a reconciler that does not stop in 30 s is a finding:
        where its threads wait goes to reconcile-hang.txt, then it is killed."""
        r, self.reconciler = self.reconciler, None
        r.send_signal(signal.SIGTERM)
        try:
            r.wait(timeout=30)
            return
        except subprocess.TimeoutExpired:
            pass
        dump = []
        for tid in sorted(os.listdir(f"/proc/{r.pid}/task")):
            dump.append(f"thread {tid} ({(read(f'/proc/{r.pid}/task/{tid}/comm') or '').strip()}): "
                        f"wchan {read(f'/proc/{r.pid}/task/{tid}/wchan')}\n"
                        f"{read(f'/proc/{r.pid}/task/{tid}/stack', '')}")
        with open(f"{self.out}/reconcile-hang.txt", "w") as f:
            f.write("\n".join(dump))
        r.kill()
        r.wait()
        self.findings.append("berth reconcile did not stop within 30 s of SIGTERM and was killed "
                             "(its threads' kernel stacks: reconcile-hang.txt next to the results)")

    def bench_restart(self, project, n):
        procs_dir = cgroup_dir_for_procs()
        kills = min(self.c.restart_kills, n)
        log(f"8. restart: SIGKILL a container's init, until its command runs again ({kills} containers)")
        samples = []
        by_name = {c["name"]: c for c in self.status(project)}
        for i in range(kills):
            name = f"c{i}"
            old = by_name[name]["pid"]
            procs = f"{procs_dir}/berth/{project}/{name}/cgroup.procs"

            before = set((read(procs) or "").split())  # init and the sleep it started

            def running_again():
                for pid in (read(procs) or "").split():
                    if pid not in before and (read(f"/proc/{pid}/comm") or "").strip() == "sleep":
                        return True
                return False

            start = time.perf_counter_ns()
            os.kill(old, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while not running_again():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} was not running again 30 s after its init was killed")
                time.sleep(0.0005)
            samples.append((time.perf_counter_ns() - start) / 1e6)
        b = stats(samples)
        self.add("restart", "Restart: init killed → command running again (reconciler)", "ms", b,
                 goal="< 100 ms (issue 6)", goal_ok=b["median"] < 100, count=kills,
                 notes=["timed from the SIGKILL to a new `sleep` in the container's cgroup; "
                        "it includes noticing the death (pidfd), a plan and a start"])

    # 9. the bare start of the CLI, against the smallest program a C compiler makes
    def bench_version(self):
        log("9. process start: berth --version vs a C hello world")
        src, exe = f"{self.work}/hello.c", f"{self.work}/hello"
        with open(src, "w") as f:
            f.write('#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n')
        run(["gcc", "-O2", "-o", exe, src])  # Debian's gcc: PIE, dynamically linked, as berth's libc is
        berth, hello = [], []
        for r in range(self.c.version_runs):
            for i in range(2):
                if (r + i) % 2 == 0:
                    berth.append(timed([self.berth, "--version"])[0])
                else:
                    hello.append(timed([exe])[0])
        b, h = stats(berth), stats(hello)
        self.add("version", "Process start: berth --version vs a C hello world", "ms", b, h, "C hello world (gcc -O2)",
                 goal="≤ 3 × the C program", goal_ok=b["median"] <= 3 * h["median"],
                 notes=["both timed from spawning to exit, interleaved; the spawn itself (about 0.6 ms) "
                        "is in both"])

    # 10. a thousand containers on two networks: how the cost per container grows
    def bench_thousand(self):
        n, c = self.c.thousand, self.c
        project = f"bench-k-{PID}"
        third = (self.octet * 4) % 256  # a /22 each: 500 addresses per network
        lines = ["version: 1", f"project: {project}", "networks:",
                 f"  t: {{subnet: 10.236.{third}.0/22, bridge: {self.bridges['t']}}}",
                 f"  u: {{subnet: 10.237.{third}.0/22, bridge: {self.bridges['u']}}}", "containers:"]
        for i in range(n):
            lines += [f"  k{i}:", f"    rootfs: {self.rootfs}", '    command: ["/bin/sleep", "3600"]',
                      f"    resources: {{memory: {LIMITS['memory']}, cpus: {LIMITS['cpus']}, pids: {LIMITS['pids']}}}",
                      f"    networks: {{{'t' if i % 2 == 0 else 'u'}: {{}}}}"]
        path = f"{self.work}/{project}.yaml"
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.projects.add((project, path))
        self.project_names.add(project)
        log(f"10. {n} containers on two networks: apply, no-op plan, reconciler at rest, destroy")

        def per(row_id):
            """The same figure per container at the largest scale row of this run, when it ran."""
            row = self.rows.get(row_id)
            return None if not row or not row.get("count") else row["berth"]["median"] / row["count"]

        ms, _ = timed(self.berth_cmd("apply", "-f", path))
        self.expect_running(project, n)
        ref = per("scale.apply.net.large")
        self.add("thousand.apply", f"Apply {n} containers on two networks, from nothing", "ms", stats([ms]),
                 goal="per container ≤ the 100-container apply's" if ref else None,
                 goal_ok=(ms / n <= ref) if ref else None, count=n,
                 notes=[f"per container {fmt_ms(ms / n)}" + (f"; at the scale row: {fmt_ms(ref)}" if ref else "")])
        plans = []
        for _ in range(c.thousand_plans):
            t, p = timed(self.berth_cmd("plan", "-f", path, "--detailed-exitcode"), check=False)
            if p.returncode != 0:
                raise RuntimeError(f"plan over {n} running containers is not a no-op (exit {p.returncode})")
            plans.append(t)
        b = stats(plans)
        ref = per("plan.noop")
        self.add("thousand.plan", f"No-op plan, {n} running containers on two networks", "ms", b,
                 goal="per container ≤ the 100-container plan's" if ref else None,
                 goal_ok=(b["median"] / n <= ref) if ref else None, count=n,
                 notes=[f"per container {fmt_ms(b['median'] / n)}" + (f"; at row 4: {fmt_ms(ref)}" if ref else "")])

        logfile = f"{self.work}/reconcile-k.log"
        with open(logfile, "wb") as out:
            self.reconciler = subprocess.Popen(self.berth_cmd("reconcile", "-f", path, "--interval", "1s"),
                                               stdout=out, stderr=subprocess.STDOUT)
        rpid = self.reconciler.pid
        wait_until(lambda: b"reconciler started" in open(logfile, "rb").read() or self.reconciler.poll() is not None,
                   60, "the reconciler to start")
        if self.reconciler.poll() is not None:
            raise RuntimeError("berth reconcile exited: " + read(logfile, ""))
        # Its first pass observes everything; at rest is after that.
        time.sleep(c.reconcile_warmup + (2 if c.quick else 10))

        def cpu_ns():
            return sum(int((read(f"/proc/{rpid}/task/{tid}/schedstat") or "0").split()[0])
                       for tid in os.listdir(f"/proc/{rpid}/task"))
        shares = []
        t0, c0 = time.monotonic(), cpu_ns()
        for _ in range(int(c.reconcile_seconds / c.reconcile_window)):
            time.sleep(c.reconcile_window)
            t1, c1 = time.monotonic(), cpu_ns()
            shares.append(100 * (c1 - c0) / ((t1 - t0) * 1e9))
            t0, c0 = t1, c1
        rss = status_kib(rpid, "VmRSS") / 1024
        self.stop_reconciler()
        b = stats(shares)
        self.add("thousand.reconciler.cpu", f"Reconciler at rest, {n} containers on two networks, 1 s interval: CPU",
                 "% of a core", b, goal="≤ 2 %", goal_ok=b["median"] <= 2, count=n,
                 notes=[f"threads' schedstat over {c.reconcile_seconds} s in {c.reconcile_window} s windows; "
                        f"resident {rss:.1f} MiB at the end"])

        ms, _ = timed(self.berth_cmd("destroy", "-f", path))
        self.projects.discard((project, path))
        ref = per("scale.destroy.net.large")
        self.add("thousand.destroy", f"Destroy {n} containers on two networks", "ms", stats([ms]),
                 goal="per container ≤ the 100-container destroy's" if ref else None,
                 goal_ok=(ms / n <= ref) if ref else None, count=n,
                 notes=[f"per container {fmt_ms(ms / n)}" + (f"; at the scale row: {fmt_ms(ref)}" if ref else "")])

    # 7. validation
    def bench_validate(self):
        c = self.c
        log(f"7. validate: {c.validate_containers} containers, {c.validate_networks} networks "
            "(bench/validate-bench.sh), vs PyYAML + jsonschema with schemas/berth-v1.schema.json")
        out = f"{self.work}/validate"
        env = dict(os.environ, CONTAINERS=str(c.validate_containers), NETWORKS=str(c.validate_networks),
                   RUNS=str(c.validate_runs), WARMUP=str(c.validate_warmup), OUT=out)
        p = run(["bash", f"{REPO}/bench/validate-bench.sh", self.berth], check=False, env=env)
        if not os.path.exists(f"{out}/validate-hyperfine.json"):
            raise RuntimeError("bench/validate-bench.sh failed: " + (p.stdout + p.stderr).decode(errors="replace"))
        times = json.load(open(f"{out}/validate-hyperfine.json"))["results"][0]["times"]
        rss_kib = next(int(line.split(": ")[1]) for line in open(f"{out}/validate-time.txt")
                       if "Maximum resident set size" in line)
        spec = f"{out}/validate-{c.validate_containers}.yaml"
        peer_script = (
            "import json, sys, yaml, jsonschema\n"
            f"schema = json.load(open({json.dumps(REPO + '/schemas/berth-v1.schema.json')}))\n"
            "doc = yaml.load(open(sys.argv[1]), Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))\n"
            "errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(doc))\n"
            "sys.exit(1 if errors else 0)\n")
        peer, peer_rss, peer_error = [], None, None
        try:
            for _ in range(c.validate_peer_runs):
                ms, _ = timed(["python3", "-c", peer_script, spec])
                peer.append(ms)
            t = run(["/usr/bin/time", "-f", "%M", "python3", "-c", peer_script, spec])
            peer_rss = int(t.stderr.decode().strip().splitlines()[-1])
        except (RuntimeError, OSError) as e:
            peer_error = str(e).splitlines()[0]
        b = stats([t * 1000 for t in times])
        pname = "PyYAML + jsonschema (schema only)"
        self.add("validate", f"Validate a {c.validate_containers}-container spec", "ms", b, stats(peer), pname,
                 peer_error=peer_error, goal="< 100 ms (issue 2)", goal_ok=b["median"] < 100,
                 count=c.validate_containers,
                 notes=["berth validate: parse, every rule, cross-field checks (hyperfine); "
                        "the peer checks the JSON Schema only (no cross-field rules) in Python"])
        one = {"median": rss_kib / 1024, "min": rss_kib / 1024, "max": rss_kib / 1024, "n": 1,
               "samples": [rss_kib / 1024]}
        peer_one = ({"median": peer_rss / 1024, "min": peer_rss / 1024, "max": peer_rss / 1024, "n": 1,
                     "samples": [peer_rss / 1024]} if peer_rss else None)
        self.add("validate.rss", f"Validate a {c.validate_containers}-container spec: peak memory", "MiB", one,
                 peer_one, pname, peer_error=peer_error, goal="< 50 MiB (issue 2)", goal_ok=rss_kib < 50 * 1024,
                 count=c.validate_containers, notes=["maximum resident set size (/usr/bin/time -v), one run"])

    # -------------------------------------------------------- issue 13: the LAN rows

    def make_lan(self):
        """The LAN of rows 11 and 12, on no interface of the machine's: a namespace that plays
        the host (`bench-PID-h`) and one that plays the LAN (`bench-PID-l`, the router at .1),
        joined by a veth whose host end (`nic0`) plays the NIC, already taken into the lan
        network's bridge as berth's takeover leaves it (NIC's MAC, STP off, forward delay 0,
        the host's address on the bridge). Everything of it goes with the namespaces."""
        host, lan = f"bench-{PID}-h", f"bench-{PID}-l"
        for name in (host, lan, f"bench-{PID}-c", f"bench-{PID}-d"):
            run(["ip", "netns", "add", name])
            self.namespaces.add(name)
        subnet = f"10.238.{self.octet}"
        bridge = self.bridges["l"]
        mac = None
        cmds = [["ip", "-n", host, "link", "add", "nic0", "type", "veth", "peer", "name", "lan0", "netns", lan],
                ["ip", "-n", lan, "link", "set", "lo", "up"],
                ["ip", "-n", lan, "address", "add", f"{subnet}.1/24", "dev", "lan0"],
                ["ip", "-n", lan, "link", "set", "lan0", "up"],
                ["ip", "-n", host, "link", "set", "lo", "up"]]
        for cmd in cmds:
            run(cmd)
        mac = json.loads(run(["ip", "-n", host, "-j", "link", "show", "nic0"]).stdout)[0]["address"]
        for cmd in (["ip", "-n", host, "link", "add", bridge, "address", mac, "type", "bridge", "stp_state", "0",
                     "forward_delay", "0"],
                    ["ip", "-n", host, "link", "set", "nic0", "master", bridge],
                    ["ip", "-n", host, "address", "add", f"{subnet}.2/24", "dev", bridge],
                    ["ip", "-n", host, "link", "set", "nic0", "up"],
                    ["ip", "-n", host, "link", "set", bridge, "up"]):
            run(cmd)
        return host, subnet, bridge

    @contextlib.contextmanager
    def entered(self, name):
        """The harness's own thread in the namespace `name` while the block runs (the CNI
        plugins it spawns start there, as they would in the host's), then back."""
        libc = ctypes.CDLL(None, use_errno=True)
        here = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        there = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if libc.setns(there, 0x40000000) != 0:  # CLONE_NEWNET
                raise OSError(ctypes.get_errno(), f"setns into {name}")
            yield
        finally:
            if libc.setns(here, 0x40000000) != 0:
                raise SystemExit(f"bench: cannot return to the host's network namespace (errno {ctypes.get_errno()})")
            os.close(here)
            os.close(there)

    def bench_lan(self):
        log("11-12. LAN attach and a published port (in-process, through the engine's functions) vs the CNI "
            "bridge and portmap plugins, in a namespace that plays the host")
        if not os.path.exists(f"{CNI_DIR}/portmap"):
            raise RuntimeError(f"{CNI_DIR}/portmap is missing (Debian containernetworking-plugins)")
        c = self.c
        host, subnet, bridge = self.make_lan()
        per = c.lan_per_round
        # The lan network as docs/lan.md writes it; berth hands out .64-.127, the plugin .128-.191.
        project = f"bench-lan-{PID}"
        lines = ["version: 1", f"project: {project}", "networks:",
                 f"  lan: {{mode: lan, uplink: nic0, bridge: {bridge}, subnet: {subnet}.0/24, "
                 f"gateway: {subnet}.1, ipRange: {subnet}.64/26}}", "containers:"]
        for i in range(per + 1):
            lines += [f"  c{i}:", f"    rootfs: {self.rootfs}", '    command: ["/bin/sleep", "3600"]',
                      "    networks: {lan: {}}"]
        lan_spec = f"{self.work}/{project}.yaml"
        with open(lan_spec, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.project_names.add(project)
        cni_lan = json.dumps({
            "cniVersion": "1.0.0", "name": f"berth-bench-{PID}-lan", "type": "bridge", "bridge": bridge,
            "isGateway": False, "ipMasq": False,
            "ipam": {"type": "host-local", "dataDir": f"{self.work}/cni-lan",
                     "ranges": [[{"subnet": f"{subnet}.0/24", "rangeStart": f"{subnet}.128",
                                  "rangeEnd": f"{subnet}.191", "gateway": f"{subnet}.1"}]],
                     "routes": [{"dst": "0.0.0.0/0", "gw": f"{subnet}.1"}]}}).encode()
        cni_ns = f"/run/netns/bench-{PID}-c"

        # 12: one ports: entry, "8080:80", on a bridge network of berth's, and the same mapping
        # through portmap chained after bridge (prevResult) on a bridge of the plugin's.
        pproject = f"bench-ports-{PID}"
        ports_spec = f"{self.work}/{pproject}.yaml"
        with open(ports_spec, "w") as f:
            f.write("\n".join(["version: 1", f"project: {pproject}", "networks:",
                               f"  p: {{subnet: 10.239.{self.octet}.0/24, bridge: {self.bridges['p']}}}",
                               "containers:", "  c0:", f"    rootfs: {self.rootfs}",
                               '    command: ["/bin/sleep", "3600"]', "    networks: {p: {}}",
                               '    ports: ["8080:80"]']) + "\n")
        self.project_names.add(pproject)
        os.makedirs(f"{self.work}/ports", exist_ok=True)
        cni_bridge = json.dumps({
            "cniVersion": "1.0.0", "name": f"berth-bench-{PID}-ports", "type": "bridge", "bridge": self.bridges["q"],
            "isGateway": True, "ipMasq": False,
            "ipam": {"type": "host-local", "subnet": f"10.240.{self.octet}.0/24", "dataDir": f"{self.work}/cni-ports"}})
        pcid = f"bench-{PID}-ports"
        ports_ns = f"/run/netns/bench-{PID}-d"

        attach, probe, cni_add, cni_del, pub, unpub, pm_add, pm_del = [], [], [], [], [], [], [], []
        with self.entered(host):
            p = run([f"{CNI_DIR}/bridge"], input=cni_bridge.encode(), env=self.cni_env("ADD", pcid, ports_ns))
            prev = json.loads(p.stdout)
            portmap = json.dumps({
                "cniVersion": "1.0.0", "name": f"berth-bench-{PID}-ports", "type": "portmap",
                "capabilities": {"portMappings": True}, "snat": True,
                "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
                "prevResult": prev}).encode()
        for r in range(c.lan_rounds):
            out = json.loads(run([self.tool, "lan", "--spec", lan_spec, "--network", "lan", "--runs", str(per + 1),
                                  "--netns", f"/run/netns/{host}"]).stdout)
            attach += out["samples_ms"][1:]  # the first run warms the caches up
            probe += out["probe_ms"][1:]
            out = json.loads(run([self.tool, "ports", "--spec", ports_spec, "--runs", str(per + 1),
                                  "--netns", f"/run/netns/{host}", "--work", f"{self.work}/ports"]).stdout)
            pub += out["samples_ms"][1:]
            unpub += out["remove_ms"][1:]
            with self.entered(host):
                for i in range(per + 1):
                    cid = f"bench-{PID}-lan-{r}-{i}"
                    ms, p = timed([f"{CNI_DIR}/bridge"], input=cni_lan, env=self.cni_env("ADD", cid, cni_ns),
                                  stdout=subprocess.PIPE)
                    result = json.loads(p.stdout) if p.stdout else {}
                    del_ms, _ = timed([f"{CNI_DIR}/bridge"], input=cni_lan, env=self.cni_env("DEL", cid, cni_ns))
                    if not result.get("ips"):
                        raise RuntimeError(f"CNI ADD on the LAN bridge returned no address: {result}")
                    if i > 0:
                        cni_add.append(ms)
                        cni_del.append(del_ms)
                for i in range(per + 1):
                    ms, _ = timed([f"{CNI_DIR}/portmap"], input=portmap, env=self.cni_env("ADD", pcid, ports_ns))
                    if r == 0 and i == 0:
                        nat = run(["iptables", "-t", "nat", "-S"]).stdout.decode()
                        if "--dport 8080" not in nat:
                            raise RuntimeError(f"portmap ADD left no DNAT for 8080: {nat[-1000:]}")
                    del_ms, _ = timed([f"{CNI_DIR}/portmap"], input=portmap, env=self.cni_env("DEL", pcid, ports_ns))
                    if i > 0:
                        pm_add.append(ms)
                        pm_del.append(del_ms)
        with self.entered(host):
            run([f"{CNI_DIR}/bridge"], input=cni_bridge.encode(), env=self.cni_env("DEL", pcid, ports_ns), check=False)

        b, pr, a, d = stats(attach), stats(probe), stats(cni_add), stats(cni_del)
        probed = stats([x + y for x, y in zip(attach, probe)])
        self.add("lan.attach", "LAN attach: veth on the LAN bridge, address from ipRange, route via the router, "
                 "gratuitous ARP (without the probe's wait)", "ms", b, a, "CNI bridge ADD on the same bridge",
                 goal="≤ 0.33 × plugin", goal_ok=b["median"] <= 0.33 * a["median"],
                 notes=["berth: NetworkApplier.ensureAttached (the engine's function) in-process, in the namespace "
                        "that plays the host, for a fresh container namespace; plugin: one exec of bridge "
                        "(host-local IPAM in the LAN's subnet, the router as gateway; it sends a gratuitous ARP "
                        "too, and probes nothing), timed from spawn to exit",
                        f"the plugin's DEL: median {fmt_ms(d['median'])} ({fmt_ms(d['min'])}–{fmt_ms(d['max'])})"])
        share = 100 * pr["median"] / probed["median"]
        self.add("lan.attach.probed", "LAN attach with the RFC 5227 probe for the address (apply's preflight)", "ms",
                 probed, a, "CNI bridge ADD on the same bridge",
                 notes=[f"the probe: median {fmt_ms(pr['median'])} ({fmt_ms(pr['min'])}–{fmt_ms(pr['max'])}), "
                        f"{share:.1f} % of the total: ARP.whoHas waits its whole timeout "
                        "(Preflight.probeTimeout) when nobody answers, which is the protocol's cost, not code's; "
                        "apply probes every fresh address of a network at once, so it pays it once per apply, "
                        "not per container; the plugin has no probe"])
        pb, pm, ub, ud = stats(pub), stats(pm_add), stats(unpub), stats(pm_del)
        self.add("ports.publish", "Published port \"8080:80\": DNAT, hairpin and localhost rules", "ms", pb, pm,
                 "CNI portmap ADD (after bridge, prevResult)", goal="≤ 0.33 × plugin",
                 goal_ok=pb["median"] <= 0.33 * pm["median"],
                 notes=["berth: Firewall.ensurePorts with KernelMapping.portForwards (the calls apply makes), one "
                        "libnftables transaction in berth's table after listing it, in the namespace that plays "
                        "the host; plugin: one exec of portmap (iptables-nft, snat on), timed from spawn to exit",
                        f"removal: berth {fmt_ms(ub['median'])} ({fmt_ms(ub['min'])}–{fmt_ms(ub['max'])}), "
                        f"portmap DEL {fmt_ms(ud['median'])} ({fmt_ms(ud['min'])}–{fmt_ms(ud['max'])})"])
        self.rows["lan.attach.probed"]["probe"] = pr
        self.rows["ports.publish"]["remove"] = ub
        self.rows["ports.publish"]["peer_remove"] = ud

    # -------------------------------------------------------- issue 14: healthchecks

    def bench_health(self):
        c = self.c
        n = c.health_containers
        project = f"bench-health-{PID}"
        log(f"13. healthchecks: {n} containers checked every 1 s under berth reconcile; one check vs runc exec")
        path = self.spec(project, n, extra=("    healthcheck: {test: [CMD, /bin/true], interval: 1s}",))
        run(self.berth_cmd("apply", "-f", path, "--wait"))
        self.expect_running(project, n)

        # Latency: the reconciler's check path in-process against runc exec of the same
        # command into a runc container of the same root, interleaved.
        cid = f"bench-{PID}-health"
        self.runc_ids.add(("runc", cid))
        ms, p = self.timed_detached(self.runc("runc", "run", "-d", "--bundle", self.bundle_sleep, cid))
        if p.returncode != 0:
            raise RuntimeError(f"runc run failed: {p.stderr.decode(errors='replace').strip()}")
        berth, runc_exec, cli = [], [], []
        per = c.health_per_round
        for r in range(c.health_rounds):
            out = json.loads(run([self.tool, "health", "--spec", path, "--state", self.state, "--container", "c0",
                                  "--berth", self.berth, "--runs", str(per + 1)]).stdout)
            berth += out["samples_ms"][1:]
            for i in range(per + 1):
                ms, _ = timed(self.runc("runc", "exec", cid, "/bin/true"))
                if i > 0:
                    runc_exec.append(ms)
            # (--state-dir before the command: berth_cmd puts it last, which would be the command's)
            ms, _ = timed([self.berth, "exec", "--state-dir", self.state, "-p", project, "c0", "--", "/bin/true"])
            cli.append(ms)
        run(self.runc("runc", "delete", "-f", cid))
        self.runc_ids.discard(("runc", cid))

        # CPU: the reconciler's threads and the children it reaps (for a container without
        # berth init's endpoint, every check's relay and command: they run in the containers'
        # cgroups but are the reconciler's children). Reported beside it: what the checks cost
        # inside the containers' cgroups (berth init's fork and the command, as Docker charges
        # its exec'd checks to the container), so that a cost moved there shows.
        logpath = f"{self.work}/reconcile-health.log"
        logfile = open(logpath, "wb")
        self.reconciler = subprocess.Popen(self.berth_cmd("reconcile", "-f", path, "--interval", "1s"),
                                           stdout=logfile, stderr=subprocess.STDOUT)
        rpid = self.reconciler.pid
        wait_until(lambda: b"reconciler started" in open(logpath, "rb").read() or self.reconciler.poll() is not None,
                   30, "the reconciler to start")
        if self.reconciler.poll() is not None:
            raise RuntimeError("berth reconcile exited: " + read(logpath, ""))
        time.sleep(c.health_warmup)
        tick = os.sysconf("SC_CLK_TCK")

        def cpu():
            own = sum(int((read(f"/proc/{rpid}/task/{tid}/schedstat") or "0").split()[0])
                      for tid in os.listdir(f"/proc/{rpid}/task"))
            fields = read(f"/proc/{rpid}/stat").rsplit(")", 1)[1].split()
            return own, (int(fields[13]) + int(fields[14])) * 1e9 / tick

        def charged():
            """CPU charged to the project's cgroup (its containers: the checks' relays and commands
            once they joined, berth init, sleep), nanoseconds."""
            for m in (line.split() for line in open("/proc/self/mounts")):
                if m[2] == "cgroup" and "cpuacct" in m[3].split(","):
                    return int(read(f"{m[1]}/berth/{project}/cpuacct.usage") or 0)
                if m[2] == "cgroup2" and m[1] == "/sys/fs/cgroup":
                    stat = read(f"{m[1]}/berth/{project}/cpu.stat") or ""
                    return next((int(x.split()[1]) * 1000 for x in stat.splitlines() if x.startswith("usage_usec")), 0)
            return 0

        def checks_seen(seen):
            for i in range(n):
                try:
                    record = json.load(open(f"{self.state}/{project}/containers/c{i}/health.json"))
                except (OSError, ValueError):
                    continue
                for entry in record.get("log", []):
                    seen.add((i, entry.get("start")))

        seen = set()
        checks_seen(seen)
        before = len(seen)
        shares, own_shares, child_shares, container_shares = [], [], [], []
        t0, (o0, k0), g0 = time.monotonic(), cpu(), charged()
        first = (t0, o0, k0, g0)
        for _ in range(int(c.health_seconds / c.health_window)):
            # Sampled each second: a record keeps its last 5 results.
            end = time.monotonic() + c.health_window
            while time.monotonic() < end:
                time.sleep(min(1, max(0, end - time.monotonic())))
                checks_seen(seen)
            t1, (o1, k1), g1 = time.monotonic(), cpu(), charged()
            wall = (t1 - t0) * 1e9
            shares.append(100 * ((o1 - o0) + (k1 - k0)) / wall)
            own_shares.append(100 * (o1 - o0) / wall)
            child_shares.append(100 * (k1 - k0) / wall)
            container_shares.append(100 * (g1 - g0) / wall)
            t0, o0, k0, g0 = t1, o1, k1, g1
        seconds = t0 - first[0]
        overall = 100 * ((o0 - first[1]) + (k0 - first[2])) / (seconds * 1e9)
        cgroup_share = 100 * (g0 - first[3]) / (seconds * 1e9)
        rate = (len(seen) - before) / seconds
        failing = 0
        for i in range(n):
            record = json.load(open(f"{self.state}/{project}/containers/c{i}/health.json"))
            failing += record.get("status") != "healthy"
        self.stop_reconciler()
        logfile.close()
        for line in open(logpath, errors="replace"):
            if "level=error" in line:
                self.findings.append(f"reconcile-health.log: `{line.strip()[:300]}`")
        run(self.berth_cmd("destroy", "-f", path))
        self.projects.discard((project, path))
        if failing:
            raise RuntimeError(f"{failing} of {n} containers were not healthy at the end")

        b = stats(shares)
        self.add("health.cpu", f"Healthchecks of {n} containers every 1 s: reconciler CPU, checks included",
                 "% of a core", b, goal="< 2 % of a core", goal_ok=overall < 2, count=n,
                 notes=[f"over {seconds:.0f} s: {overall:.2f} % of one core in all, {rate:.1f} checks a second "
                        f"({n} expected); the reconciler's own threads (schedstat) median "
                        f"{statistics.median(own_shares):.2f} %, the children it reaped (a relay per check only "
                        f"for containers without berth init's endpoint; cutime + cstime) "
                        f"{statistics.median(child_shares):.2f} %",
                        f"inside the containers' cgroups (cpuacct of the project: berth init's fork of each check "
                        f"and the check itself, and a relay's part after it joined; the idle commands add ~0): "
                        f"{cgroup_share:.2f} % of one core in all, median {statistics.median(container_shares):.2f} %"])
        self.rows["health.cpu"]["checks_per_second"] = rate
        self.rows["health.cpu"]["containers_cpu_percent"] = cgroup_share
        lat, rx, cl = stats(berth), stats(runc_exec), stats(cli)
        self.add("health.latency", "Healthcheck latency: one check (/bin/true) exec'd into a container",
                 "ms", lat, rx, "runc exec, same command and root", goal="faster than runc exec",
                 goal_ok=lat["median"] < rx["median"],
                 notes=["berth: HealthChecker.check, the reconciler's own path, timed in-process (berth-bench "
                        "health: a request on the container's berth init endpoint, init forks the check in the "
                        "container and answers with its status and output, the record written); runc exec timed "
                        "from spawn to exit",
                        f"the same through the CLI, `berth exec c0 -- /bin/true`: median {fmt_ms(cl['median'])} "
                        f"({fmt_ms(cl['min'])}–{fmt_ms(cl['max'])})"])
        self.rows["health.latency"]["cli"] = cl

    # -------------------------------------------------------- issue 14: log throughput

    def bench_logs(self):
        c = self.c
        size = c.log_bytes
        log(f"14. log throughput: {size >> 20} MiB written as fast as a program can, through berth's relay, "
            "to /dev/null, and through runc to a file")
        project = f"bench-logs-{PID}"
        report = re.compile(rb"bench-write (\S+) bytes=(\d+) ns=(\d+)")
        rows = {}
        # (kind, line length, bytes per write): 64 KiB writes as dd and bulk copies make them, and
        # one write(2) per line, the writer real services are.
        for kind, line, chunk in (("zeros", 0, 65536), ("lines", 128, 65536), ("line-writes", 128, 128)):
            relay, null, direct = [], [], []
            args = lambda tag, out: ["/bin/bench-write", tag, str(size), str(line), out, str(chunk)]
            bundle = self.make_bundle(f"write-{kind}", args("file", "-"))
            for r in range(c.log_rounds):
                # The two writers in one container run, stdout's first: the log holds both streams,
                # so a report written before the flood would be rotated away.
                script = "; ".join(" ".join(args(w, "/dev/null" if w == "null" else "-")) for w in ("out", "null"))
                path = self.spec(project, 1, command=("/bin/sh", "-c", script), restart="never")
                exit_record = f"{self.state}/{project}/containers/c0/exit.json"
                run(self.berth_cmd("apply", "-f", path))
                wait_until(lambda: os.path.exists(exit_record), 300, "the log writer under berth to finish")
                record = json.load(open(exit_record))
                if record.get("exitCode") != 0:
                    raise RuntimeError(f"the log writer under berth ended with {record}")
                err = run(self.berth_cmd("logs", "-p", project, "--stream", "stderr", "c0")).stdout
                got = {m.group(1).decode(): (int(m.group(2)), int(m.group(3))) for m in report.finditer(err)}
                if set(got) != {"null", "out"} or any(b != size for b, _ in got.values()):
                    raise RuntimeError(f"berth's log has no complete reports: {err[-500:]!r}")
                relay.append(got["out"][0] / got["out"][1] * 1e9 / (1 << 20))
                null.append(got["null"][0] / got["null"][1] * 1e9 / (1 << 20))
                self.destroy(project, path)
                self.projects.discard((project, path))

                cid = f"bench-{PID}-log-{kind}-{r}"
                out, errfile = f"{self.work}/runc-{kind}.out", f"{self.work}/runc-{kind}.err"
                self.runc_ids.add(("runc", cid))
                with open(out, "wb") as o, open(errfile, "wb") as e:
                    p = run(self.runc("runc", "run", "--bundle", bundle, cid), check=False, stdin=subprocess.DEVNULL,
                            stdout=o, stderr=e)
                run(self.runc("runc", "delete", "-f", cid), check=False)
                self.runc_ids.discard(("runc", cid))
                m = report.search(open(errfile, "rb").read())
                if p.returncode != 0 or not m or int(m.group(2)) != size or os.path.getsize(out) != size:
                    raise RuntimeError(f"the writer under runc failed (exit {p.returncode}): "
                                       f"{open(errfile, 'rb').read()[-500:]!r}")
                direct.append(int(m.group(2)) / int(m.group(3)) * 1e9 / (1 << 20))
                os.unlink(out)
            rows[kind] = (stats(relay), stats(null), stats(direct))
        what = {"zeros": ("logs.throughput", "64 KiB writes of zeros (no newline: 16 KiB pieces)"),
                "lines": ("logs.lines", "64 KiB writes of 128-byte lines"),
                "line-writes": ("logs.line-writes", "128-byte lines, one write(2) each")}
        for kind, (relay, null, direct) in rows.items():
            rid, label = what[kind]
            share = relay["median"] / null["median"]
            notes = [f"{size >> 20} MiB a run; the same writer to /dev/null in the same container: "
                     f"median {null['median']:.0f} MiB/s ({null['min']:.0f}–{null['max']:.0f}); berth's "
                     f"relay is {100 * share:.1f} % of it, runc's file {100 * direct['median'] / null['median']:.1f} %"]
            if kind != "line-writes":
                notes.append("a 64 KiB write to /dev/null copies nothing, so no writer that stores its bytes "
                             "(runc's file included) comes near 80 % of it: compare with the file")
            notes.append("timed by the writer itself (CLOCK_MONOTONIC around its writes: bench/bench-write.c); "
                         "runc hands the container the harness's file as stdout")
            self.add(rid, f"Log throughput, {label}: berth's relay (rotation 10 MiB × 3)", "MiB/s", relay, direct,
                     "runc, stdout to a file", goal="≥ 80 % of the same writer to /dev/null",
                     goal_ok=share >= 0.8, count=size, notes=notes)
            self.rows[rid]["devnull"] = null
            self.rows[rid]["devnull_ratio"] = share

    # -------------------------------------------------------- cleanup

    def cleanup(self):
        problems = []
        if self.reconciler and self.reconciler.poll() is None:
            self.stop_reconciler()
        for project, path in sorted(self.projects):
            if os.path.isdir(f"{self.state}/{project}") and os.path.exists(path):
                p = run(self.berth_cmd("destroy", "-f", path), check=False)
                if p.returncode != 0:
                    problems.append(f"berth destroy {project}: {p.stderr.decode(errors='replace').strip()}")
        # A networked runc container's veth goes with its namespace; the plugin's IPAM
        # state is under the work directory.
        for tool, cid in sorted(self.runc_ids):
            if os.path.isdir(f"{self.runc_root}/{cid}"):
                run(self.runc(tool, "delete", "-f", cid), check=False)
        if os.path.exists(f"{self.work}/reconcile.log"):
            shutil.copy(f"{self.work}/reconcile.log", f"{self.out}/reconcile.log")
        if self.netns_made:
            run(["ip", "netns", "del", self.netns], check=False)
        # The LAN rows' namespaces: the host, the LAN, the CNI peer's containers (their
        # bridges, veths, nftables and iptables rules go with them).
        for name in sorted(self.namespaces):
            if os.path.exists(f"/run/netns/{name}"):
                p = run(["ip", "netns", "del", name], check=False)
                if p.returncode != 0:
                    problems.append(f"ip netns del {name}: {p.stderr.decode(errors='replace').strip()}")
        for bridge in self.bridges.values():
            if os.path.exists(f"/sys/class/net/{bridge}"):
                run(["ip", "link", "del", bridge], check=False)
        shutil.rmtree(f"/var/lib/cni/networks/berth-bench-{PID}", ignore_errors=True)
        for hierarchy in cgroup_hierarchies():
            leftover = f"{hierarchy}/berth-bench-{PID}"
            if os.path.isdir(leftover):
                for root, dirs, _ in os.walk(leftover, topdown=False):
                    for d in dirs:
                        try:
                            os.rmdir(os.path.join(root, d))
                        except OSError:
                            pass
                try:
                    os.rmdir(leftover)
                except OSError as e:
                    problems.append(f"cgroup {leftover}: {e}")
        mounted = [line.split()[4] for line in open("/proc/self/mountinfo") if self.work in line.split()[4]]
        if mounted:
            problems.append(f"still mounted under {self.work}: {mounted}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)
        for p in problems:
            log(f"cleanup: {p}")
        return problems

    # -------------------------------------------------------- results

    def machine(self):
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                   platform.machine())
        commit = run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], check=False).stdout.decode().strip()
        dirty = run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                    check=False).stdout.decode().strip()
        return {"cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
                "cgroup_mode": cgroup_mode(), "memory_mib": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20,
                "berth": f"{commit}{' (modified tree)' if dirty else ''}", "berth_binary": self.berth,
                "peers": {k: v["version"] for k, v in self.peers.items()},
                "spawn_floor_ms": spawn_floor()}


def cgroup_mode():
    mounts = [line.split() for line in open("/proc/self/mounts")]
    if any(m[1] == "/sys/fs/cgroup" and m[2] == "cgroup2" for m in mounts):
        return "unified (cgroup v2)"
    v1 = any(m[2] == "cgroup" for m in mounts)
    v2 = any(m[2] == "cgroup2" for m in mounts)
    return "hybrid (v1 controllers + empty cgroup2)" if v1 and v2 else "legacy (cgroup v1)"


def cgroup_hierarchies():
    out = []
    for m in (line.split() for line in open("/proc/self/mounts")):
        if m[2] in ("cgroup", "cgroup2") and m[1].startswith("/sys/fs/cgroup"):
            out.append(m[1])
    return out


def cgroup_dir_for_procs():
    """Where a berth container's cgroup.procs lives: the v2 root, or the v1 pids hierarchy."""
    for m in (line.split() for line in open("/proc/self/mounts")):
        if m[1] == "/sys/fs/cgroup" and m[2] == "cgroup2":
            return m[1]
    for m in (line.split() for line in open("/proc/self/mounts")):
        if m[2] == "cgroup" and "pids" in m[3].split(","):
            return m[1]
    raise RuntimeError("no cgroup v2 root and no v1 pids hierarchy")


def spawn_floor():
    """What this harness adds to every timed command: spawning /bin/true and waiting for it."""
    samples = [timed(["/bin/true"])[0] for _ in range(20)]
    return round(statistics.median(samples), 3)


def fmt_ms(v):
    if v is None:
        return "—"
    if v >= 1000:
        return f"{v / 1000:.2f} s"
    if v >= 100:
        return f"{v:.0f} ms"
    if v >= 10:
        return f"{v:.1f} ms"
    return f"{v:.2f} ms"


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "ms":
        return fmt_ms(v)
    if unit == "MiB":
        return f"{v:.2f} MiB"
    if unit == "% of a core":
        return f"{v:.2f} %"
    if unit == "MiB/s":
        return f"{v:.0f} MiB/s"
    return f"{v:g} {unit}"


def fmt_stats(s, unit):
    if not s:
        return "—"
    if s.get("min") is None or s["n"] <= 1:
        return fmt(s["median"], unit)
    return f"{fmt(s['median'], unit)} ({fmt(s['min'], unit)}–{fmt(s['max'], unit)})"


def render_line(row):
    peer = row["peer_error"] and f"{row['peer_name']}: {row['peer_error']}" or (
        row["peer_name"] and f"{row['peer_name']} {fmt_stats(row['peer'], row['unit'])}") or "no peer"
    ratio = f" ratio {row['ratio']:.2f}" if row["ratio"] is not None else ""
    goal = f" goal {row['goal']}: {'met' if row['goal_met'] else 'MISSED'}" if row["goal"] else ""
    return f"{row['label']}: berth {fmt_stats(row['berth'], row['unit'])} | {peer}{ratio}{goal}"


def markdown(bench, machine, started, seconds, problems):
    c = bench.c
    lines = [f"# berth benchmarks{' (QUICK: tiny counts, not figures)' if c.quick else ''}", "",
             f"Run {started} in {seconds:.0f} s by `make bench{' QUICK=1' if c.quick else ''}` (bench/run.sh).", "",
             f"- machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_mib']} MiB, "
             f"kernel {machine['kernel']}, cgroups {machine['cgroup_mode']}",
             f"- berth {machine['berth']} ({machine['berth_binary']})",
             f"- peers: " + ", ".join(f"{k} {v or 'not installed'}" for k, v in machine["peers"].items()),
             f"- load average at start {machine['load_start']}, at end {machine['load_end']}; "
             f"spawning /bin/true from the harness costs {machine['spawn_floor_ms']} ms (in every CLI figure)",
             "- sections (1-minute load average at start → end): " + ", ".join(
                 f"{x['section']} {x['seconds']:.0f} s ({x['load_start']} → {x['load_end']})" for x in bench.sections),
             "", "Median (min–max) over the runs; ratio = berth median / peer median.", "",
             "| # | figure | berth | peer | peer figure | ratio | goal | met |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    number = {"start": "1", "start.runtime": "1b", "attach": "2", "scale.network-share": "3",
              "plan.noop": "4", "reconciler.cpu": "5", "reconciler.rss": "5", "overhead.per-container": "6",
              "validate": "7", "validate.rss": "7", "restart": "8", "version": "9", "thousand.apply": "10",
              "thousand.plan": "10", "thousand.reconciler.cpu": "10", "thousand.destroy": "10",
              "lan.attach": "11", "lan.attach.probed": "11", "ports.publish": "12", "health.cpu": "13",
              "health.latency": "13", "logs.throughput": "14", "logs.lines": "14",
              "logs.line-writes": "14"}
    for rid in ROW_IDS:
        row = bench.rows.get(rid)
        if not row:
            lines.append(f"| {number.get(rid, '3')} | {rid} | not measured | | | | | |")
            continue
        peer = row["peer_name"] or "—"
        peer_fig = f"refused: {row['peer_error']}" if row["peer_error"] else fmt_stats(row["peer"], row["unit"])
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "—"
        met = "—" if row["goal"] is None else ("yes" if row["goal_met"] else "**no**")
        lines.append(f"| {number.get(rid, '3')} | {row['label']} | {fmt_stats(row['berth'], row['unit'])} | {peer} "
                     f"| {peer_fig} | {ratio} | {row['goal'] or '—'} | {met} |")
    lines += ["", "## Notes", ""]
    for rid in ROW_IDS:
        row = bench.rows.get(rid)
        if row and row["notes"]:
            lines.append(f"- **{row['label']}**: " + "; ".join(row["notes"]))
    if bench.findings:
        lines += ["", "## Seen on the way", ""] + [f"- {f}" for f in bench.findings]
    if problems:
        lines += ["", "## Cleanup problems", ""] + [f"- {p}" for p in problems]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--berth", required=True)
    parser.add_argument("--berth-bench", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=f"{REPO}/bench/results")
    parser.add_argument("--only", help="comma-separated sections: validate,attach,start,scale,steady,version,thousand,"
                                       "lan,health,logs")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (cgroups, namespaces, bridges)")

    def on_signal(signum, _frame):
        raise SystemExit(f"bench: stopped by signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    bench = Bench(args)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t0 = time.monotonic()
    load_start = open("/proc/loadavg").read().split()[:3]
    sections = args.only.split(",") if args.only else ["validate", "attach", "start", "scale", "steady", "version",
                                                       "thousand", "lan", "health", "logs"]
    failure = None
    problems = []
    try:
        bench.setup()
        for section in sections:
            started_at, load = time.monotonic(), open("/proc/loadavg").read().split()[0]
            try:
                getattr(bench, f"bench_{section}")()
            finally:
                bench.sections.append({"section": section, "seconds": round(time.monotonic() - started_at, 1),
                                       "load_start": load, "load_end": open("/proc/loadavg").read().split()[0]})
    except BaseException as e:  # noqa: BLE001 - cleanup first, then report
        failure = e
    finally:
        problems = bench.cleanup()
    machine = bench.machine()
    machine["load_start"] = " ".join(load_start)
    machine["load_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
    seconds = time.monotonic() - t0
    doc = {"format": 1, "quick": args.quick, "started": started, "seconds": round(seconds, 1),
           "machine": machine, "rows": [bench.rows[r] for r in ROW_IDS if r in bench.rows],
           "missing": [r for r in ROW_IDS if r not in bench.rows],
           "failure": None if failure is None else f"{type(failure).__name__}: {failure}",
           "sections": bench.sections, "findings": bench.findings, "cleanup_problems": problems, "work": bench.work, "bridges": sorted(bench.bridges.values()),
           "projects": sorted(bench.project_names), "namespaces": sorted(bench.namespaces)}
    os.makedirs(args.out, exist_ok=True)
    md = markdown(bench, machine, started, seconds, problems)
    if failure is not None:
        md += f"\n**The run stopped early**: {doc['failure']}\n"
    with open(f"{args.out}/latest.json", "w") as f:
        json.dump(doc, f, indent=1)
    with open(f"{args.out}/latest.md", "w") as f:
        f.write(md)
    # The scale rows as curves (bench/chart.py, matplotlib): latest.png beside the table.
    chart = run([sys.executable, f"{REPO}/bench/chart.py", f"{args.out}/latest.json", f"{args.out}/latest.png"],
                check=False)
    if chart.returncode != 0:
        log(f"bench/chart.py failed: {chart.stderr.decode(errors='replace').strip()[-500:]}")
    print(md)
    print(f"written: {args.out}/latest.md, {args.out}/latest.json, {args.out}/latest.png")
    if failure is not None:
        if isinstance(failure, SystemExit):
            raise failure
        raise failure
    if problems or chart.returncode != 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
