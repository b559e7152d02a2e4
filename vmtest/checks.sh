#!/bin/sh
# The checks berth must pass on a real cgroup v2 kernel, run inside the test VM
# by vmtest/init.sh. What a user would check, through berth's CLI and the
# kernel's own files; nothing here reads berth's state directory.
#
# Protocol on the console, read by vmtest/run.sh:
#   BERTH-INFO <text>                      what the VM is
#   BERTH-CHECK PASS <name>
#   BERTH-CHECK FAIL <name>: <reason>
#   BERTH-LOG <name>: <line>               the tail of a failing check's output
#   BERTH-DONE <passed> <failed>
#
# Each check runs in its own shell (`checks.sh --one NAME`) under a timeout, so
# a hung berth fails one check instead of the whole VM. Checks run in order and
# later ones build on earlier ones (apply before plan); a check whose premise
# failed fails too, and says so.

SELF=/vmtest/checks.sh
WORK=/vmtest/work
CG=/sys/fs/cgroup
LOGS=/tmp/checks
STATE=$LOGS/state
CHECK_TIMEOUT=${CHECK_TIMEOUT:-180}
CONTROLLERS="cpuset cpu io memory pids"

# --- helpers for the checks ---------------------------------------------------

fail() { echo "REASON: $*"; exit 1; }

# run CMD...: echo the command and its output into the check's log; $rc holds the exit code.
run() {
    echo "\$ $*"
    "$@"
    rc=$?
    [ "$rc" -eq 0 ] || echo "(exit $rc)"
    return "$rc"
}

# poll SECONDS CMD...: until CMD succeeds, or fail after SECONDS.
poll() {
    limit=$(($1 * 5)); shift
    i=0
    while ! "$@"; do
        i=$((i + 1))
        [ "$i" -lt "$limit" ] || return 1
        usleep 200000
    done
}

cgdir() { echo "$CG/berth/$1/$2"; }

# expect_file FILE WANT: the kernel file holds exactly WANT.
expect_file() {
    [ -e "$1" ] || fail "$1 does not exist"
    got=$(cat "$1")
    echo "$1: $got"
    [ "$got" = "$2" ] || fail "$1 is \"$got\", want \"$2\""
}

# All processes in a container's cgroup subtree.
procs_of() { find "$(cgdir "$1" "$2")" -name cgroup.procs -exec cat {} + 2>/dev/null; }

# The host PID of a container's PID 1 (its NSpid ends in 1).
init_pid() {
    for p in $(procs_of "$1" "$2"); do
        [ "$(awk '/^NSpid:/ { print $NF }' "/proc/$p/status" 2>/dev/null)" = 1 ] && { echo "$p"; return 0; }
    done
    return 1
}

# The host PID of the process in a container whose command line starts with PREFIX.
pid_with_cmd() {
    for p in $(procs_of "$1" "$2"); do
        case "$(cmdline "$p")" in "$3"*) echo "$p"; return 0 ;; esac
    done
    return 1
}

cmdline() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline"; }

field() { awk -v k="$2" '$1 == k { print $2 }' "$1" 2>/dev/null; }


needs() {
    [ -e "$STATE/ok-$1" ] || fail "not run: the $1 check failed before it"
}

show_procs() {
    echo "processes in $(cgdir "$1" "$2"):"
    for p in $(procs_of "$1" "$2"); do echo "  $p $(cmdline "$p")"; done
}

# apply_ok SPEC: berth apply succeeds, or the check fails with its output.
apply_ok() {
    echo "\$ berth apply -f $WORK/$1"
    out=$(berth apply -f "$WORK/$1" 2>&1)
    rc=$?
    echo "$out"
    [ "$rc" -eq 0 ] && return 0
    echo "(exit $rc)"
    fail "berth apply -f $1 exited $rc: $(echo "$out" | grep -m 1 -i 'error' || echo "$out" | tail -n 1)"
}

destroy_quietly() { berth destroy -f "$WORK/$1" >/dev/null 2>&1; }

# --- the checks -----------------------------------------------------------------

c_kernel_cgroup2() {
    run uname -r
    grep -q 'cgroup2$' /proc/filesystems || fail "the kernel has no cgroup2 filesystem"
    fs=$(awk -v m="$CG" '$2 == m { print $3 }' /proc/mounts)
    [ "$fs" = cgroup2 ] || fail "$CG is mounted as \"$fs\", not cgroup2"
    magic=$(stat -f -c %t "$CG")
    [ "$magic" = 63677270 ] || fail "statfs($CG) says filesystem type 0x$magic, not CGROUP2_SUPER_MAGIC"
    if grep -q ' cgroup ' /proc/mounts; then fail "a cgroup v1 hierarchy is mounted: $(grep ' cgroup ' /proc/mounts)"; fi
    run cat "$CG/cgroup.controllers"
    for c in $CONTROLLERS; do
        grep -qw "$c" "$CG/cgroup.controllers" || fail "the root cgroup does not offer the $c controller"
    done
}

c_kernel_modules() {
    while read -r module; do
        [ -n "$module" ] || continue
        name=$(basename "$module" .ko | tr - _)
        [ -d "/sys/module/$name" ] || fail "module $name is not loaded"
        echo "loaded: $name"
    done </vmtest/modules.list
    [ -b /dev/vda ] || fail "/dev/vda is not a block device (virtio disk missing)"
    run ip link add vmtestbr0 type bridge || fail "cannot create a bridge"
    ip link del vmtestbr0
    run ip link add vmtestv0 type veth peer name vmtestv1 || fail "cannot create a veth pair"
    ip link del vmtestv0
}

c_berth_libs() {
    run /lib64/ld-linux-x86-64.so.2 --list /usr/local/bin/berth || fail "the dynamic loader cannot load berth"
    if /lib64/ld-linux-x86-64.so.2 --list /usr/local/bin/berth | grep -q 'not found'; then
        fail "missing libraries: $(/lib64/ld-linux-x86-64.so.2 --list /usr/local/bin/berth | grep 'not found' | tr '\n' ' ')"
    fi
}

c_berth_help() {
    run berth --help || fail "berth --help exited $rc"
    berth --help 2>&1 | grep -q validate || fail "berth --help does not list validate"
}

c_berth_validate() {
    for spec in v2check.yaml v2userns.yaml v2cgns.yaml v2net.yaml v2isolate.yaml v2oom.yaml v2pids.yaml v2cpu.yaml v2round.yaml; do
        run berth validate -f "$WORK/$spec" || fail "berth validate -f $spec exited $rc"
    done
    out=$(berth validate -f "$WORK/v2invalid.yaml" 2>&1)
    rc=$?
    echo "$out"
    [ "$rc" -eq 1 ] || fail "berth validate of an invalid spec exited $rc, want 1"
    echo "$out" | grep -q "v2invalid.yaml:9:15: error" || fail "the diagnostic does not name v2invalid.yaml:9:15"
}

c_apply() {
    apply_ok v2check.yaml
    [ -d "$(cgdir v2check limited)" ] || fail "no cgroup $(cgdir v2check limited) after apply"
    poll 30 pid_with_cmd v2check limited sleep >/dev/null || {
        show_procs v2check limited
        fail "the container's command (sleep) is not running in $(cgdir v2check limited)"
    }
    touch "$STATE/ok-apply"
}

c_container_namespaces() {
    needs apply
    init=$(init_pid v2check limited) || { show_procs v2check limited; fail "no process with PID 1 in its namespace in the container's cgroup"; }
    cmd=$(pid_with_cmd v2check limited sleep) || fail "the command is not running"
    echo "init: host pid $init ($(cmdline "$init")); command: host pid $cmd"
    ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$cmd/status")
    [ "$ppid" = "$init" ] || fail "the command's parent is $ppid, not the container's PID 1 ($init)"
    for ns in uts ipc pid mnt net; do
        host=$(readlink /proc/1/ns/$ns); inside=$(readlink /proc/$cmd/ns/$ns)
        echo "$ns: host $host, container $inside"
        [ "$host" != "$inside" ] || fail "the container shares the host's $ns namespace"
    done
    for ns in user cgroup; do
        host=$(readlink /proc/1/ns/$ns); inside=$(readlink /proc/$cmd/ns/$ns)
        echo "$ns: host $host, container $inside"
        [ "$host" = "$inside" ] || fail "the container has its own $ns namespace, which the spec did not ask for"
    done
    [ -x "/proc/$cmd/root/bin/busybox" ] || fail "the container's root is not the busybox rootfs"
    [ ! -e "/proc/$cmd/root/vmtest" ] || fail "the host's /vmtest is visible inside the container"
    name=$(nsenter -t "$cmd" -u hostname)
    [ "$name" = limited ] || fail "hostname inside is \"$name\", want \"limited\""
}

c_cgroup_delegation() {
    needs apply
    for d in "$CG" "$CG/berth" "$CG/berth/v2check"; do
        run cat "$d/cgroup.subtree_control"
        for c in $CONTROLLERS; do
            grep -qw "$c" "$d/cgroup.subtree_control" || fail "$c is not enabled in $d/cgroup.subtree_control"
        done
    done
    # cgroup v2's no-internal-processes rule: only leaves hold processes.
    for d in "$CG/berth" "$CG/berth/v2check"; do
        [ -z "$(cat "$d/cgroup.procs")" ] || fail "$d holds processes: $(cat "$d/cgroup.procs" | tr '\n' ' ')"
    done
}

c_cgroup_cpu_max() {
    needs apply
    f=$(cgdir v2check limited)/cpu.max
    [ -e "$f" ] || fail "$f does not exist"
    set -- $(cat "$f")
    echo "$f: $*"
    [ "$1" != max ] && [ "$(($1 * 2))" = "$2" ] || fail "$f is \"$*\", want a quota of half the period (cpus: 0.5)"
}

c_cgroup_cpu_weight() { needs apply; expect_file "$(cgdir v2check limited)/cpu.weight" 50; }

c_cgroup_cpuset() {
    needs apply
    dir=$(cgdir v2check limited)
    expect_file "$dir/cpuset.cpus" 1
    expect_file "$dir/cpuset.cpus.effective" 1
    cmd=$(pid_with_cmd v2check limited sleep) || fail "the command is not running"
    allowed=$(awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$cmd/status")
    [ "$allowed" = 1 ] || fail "the command may run on CPUs $allowed, want 1"
}

c_cgroup_memory_max() { needs apply; expect_file "$(cgdir v2check limited)/memory.max" 67108864; }

c_cgroup_memory_swap_max() { needs apply; expect_file "$(cgdir v2check limited)/memory.swap.max" 16777216; }

c_cgroup_pids_max() { needs apply; expect_file "$(cgdir v2check limited)/pids.max" 32; }

c_cgroup_io_max() {
    needs apply
    dev=$(printf '%d:%d' "0x$(stat -c %t /dev/vda)" "0x$(stat -c %T /dev/vda)")
    expect_file "$(cgdir v2check limited)/io.max" "$dev rbps=1048576 wbps=2097152 riops=100 wiops=200"
}

c_plan_no_changes() {
    needs apply
    run berth plan -f "$WORK/v2check.yaml" --detailed-exitcode
    [ "$rc" -eq 0 ] || fail "berth plan --detailed-exitcode exited $rc right after apply, want 0"
    touch "$STATE/ok-plan_no_changes"
}

c_drift_reported() {
    needs apply
    f=$(cgdir v2check limited)/memory.max
    run sh -c "echo 104857600 >$f" || fail "cannot write $f"
    out=$(berth plan -f "$WORK/v2check.yaml" --detailed-exitcode 2>&1)
    rc=$?
    echo "$out"
    [ "$rc" -eq 2 ] || fail "berth plan --detailed-exitcode exited $rc after memory.max was changed by hand, want 2"
    echo "$out" | grep -qi drift || fail "the plan does not call the hand-made change drift"
    echo "$out" | grep -Eq '100Mi|104857600' || fail "the plan does not show the observed value (100Mi)"
    touch "$STATE/ok-drift_reported"
}

c_drift_repaired() {
    needs drift_reported
    pid_before=$(pid_with_cmd v2check limited sleep)
    apply_ok v2check.yaml
    expect_file "$(cgdir v2check limited)/memory.max" 67108864
    pid_after=$(pid_with_cmd v2check limited sleep)
    [ "$pid_before" = "$pid_after" ] || fail "repairing drift restarted the container (pid $pid_before -> $pid_after)"
    run berth plan -f "$WORK/v2check.yaml" --detailed-exitcode
    [ "$rc" -eq 0 ] || fail "berth plan --detailed-exitcode exited $rc after the repair, want 0"
}

c_update_in_place() {
    needs apply
    sed 's/memory: 64Mi/memory: 96Mi/' "$WORK/v2check.yaml" >"$WORK/v2check-raised.yaml"
    pid_before=$(pid_with_cmd v2check limited sleep) || fail "the command is not running"
    out=$(berth plan -f "$WORK/v2check-raised.yaml" 2>&1); echo "$out"
    echo "$out" | grep -q '64Mi -> 96Mi' || fail "the plan does not show memory 64Mi -> 96Mi"
    apply_ok v2check-raised.yaml
    expect_file "$(cgdir v2check limited)/memory.max" 100663296
    pid_after=$(pid_with_cmd v2check limited sleep)
    [ "$pid_before" = "$pid_after" ] || fail "the update restarted the container (pid $pid_before -> $pid_after)"
}

c_user_namespace() {
    trap 'destroy_quietly v2userns.yaml' EXIT
    apply_ok v2userns.yaml
    poll 30 pid_with_cmd v2userns boxed sleep >/dev/null || { show_procs v2userns boxed; fail "the container's command is not running"; }
    cmd=$(pid_with_cmd v2userns boxed sleep)
    for ns in user cgroup; do
        host=$(readlink /proc/1/ns/$ns); inside=$(readlink /proc/$cmd/ns/$ns)
        echo "$ns: host $host, container $inside"
        [ "$host" != "$inside" ] || fail "the container shares the host's $ns namespace"
    done
    map=$(awk '{ print $1, $2, $3 }' "/proc/$cmd/uid_map"); echo "uid_map: $map"
    [ "$map" = "0 100000 65536" ] || fail "uid_map is \"$map\", want \"0 100000 65536\""
    map=$(awk '{ print $1, $2, $3 }' "/proc/$cmd/gid_map"); echo "gid_map: $map"
    [ "$map" = "0 100000 65536" ] || fail "gid_map is \"$map\", want \"0 100000 65536\""
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/$cmd/status"); echo "host uid: $uid"
    [ "$uid" = 100000 ] || fail "the command runs as host uid $uid, want 100000"
    run cat "/proc/$cmd/root/tmp/uid-view"
    [ "$(cat "/proc/$cmd/root/tmp/uid-view" 2>/dev/null)" = 0 ] || fail "id -u inside is not 0"
    expect_file "$(cgdir v2userns boxed)/memory.max" 33554432
    expect_file "$(cgdir v2userns boxed)/pids.max" 64
}

# berth init and an exec's relay are created in their cgroup by clone3 with
# CLONE_INTO_CGROUP: the kernel's cgroup_attach_task tracepoint, which fires for
# every move by cgroup.procs, sees no move into berth's cgroups during apply and
# exec; a move made by hand meanwhile is seen, so the tracepoint works. run.sh
# enables the tracepoint on the kernel command line (trace_event=), before the
# second CPU is up: turning it on here patches the running kernel's code across
# CPUs, and a CI run under qemu's TCG locked up a CPU in this check when it did.
c_clone_into_cgroup() {
    T=/sys/kernel/tracing
    [ -e "$T/events" ] || mount -t tracefs nodev "$T" || fail "cannot mount tracefs at $T"
    ev=$T/events/cgroup/cgroup_attach_task
    [ -e "$ev/enable" ] || fail "the kernel has no cgroup:cgroup_attach_task tracepoint"
    [ "$(cat "$ev/enable")" = 1 ] || fail "the tracepoint is off: the kernel command line lacks trace_event=cgroup:cgroup_attach_task ($(cat /proc/cmdline))"
    mkdir -p "$CG/vmtest-trace" || fail "cannot make $CG/vmtest-trace"
    # Also when a step fails: the test's cgroup and project gone.
    trap 'poll 5 rmdir "$CG/vmtest-trace" 2>/dev/null; destroy_quietly v2clone.yaml' EXIT
    : >"$T/trace"
    apply_ok v2clone.yaml
    poll 30 pid_with_cmd v2clone c sleep >/dev/null || { show_procs v2clone c; fail "the command is not running"; }
    run berth exec -p v2clone c -- /bin/sh -c 'echo exec-ran' || fail "berth exec exited $rc"
    sh -c "echo \$\$ >$CG/vmtest-trace/cgroup.procs"
    trace=$(grep cgroup_attach_task "$T/trace")
    echo "$trace"
    : >"$T/trace"
    echo "$trace" | grep -q 'dst_path=/vmtest-trace ' || fail "the tracepoint did not see the move made by hand"
    moves=$(echo "$trace" | grep 'dst_path=/berth/')
    [ -z "$moves" ] || fail "berth moved processes by cgroup.procs: $(echo "$moves" | tr -s ' \n' ' ')"
}

# The probe's answer NAME=... from a container of v2harden.
probe_answer() { sed -n "s|^$2=||p" "/proc/$(pid_with_cmd v2harden "$1" sleep)/root/tmp/probe.out" 2>/dev/null; }

# expect_probe CONTAINER NAME WANT
expect_probe() {
    got=$(probe_answer "$1" "$2")
    echo "$1: $2=$got"
    [ "$got" = "$3" ] || fail "$1: probe $2 answers \"$got\", want \"$3\""
}

harden_up() {
    apply_ok v2harden.yaml
    for c in confined admin open; do
        poll 30 pid_with_cmd v2harden "$c" sleep >/dev/null || { show_procs v2harden "$c"; fail "$c is not running"; }
    done
}

c_seccomp_default() {
    trap 'destroy_quietly v2harden.yaml' EXIT
    [ -x /vmtest/work/rootfs/busybox/bin/probe ] || fail "no probe in the rootfs (gcc in vmtest/run.sh)"
    harden_up
    run cat "/proc/$(pid_with_cmd v2harden confined sleep)/root/tmp/probe.out"
    expect_probe confined seccomp_mode 2
    for p in userns keyctl add_key bpf open_by_handle_at mount personality_norandom vsock; do
        expect_probe confined "$p" EPERM
    done
    expect_probe confined clone3 ENOSYS
    expect_probe confined release_agent unshare:EPERM
    expect_probe confined personality_query OK
    expect_probe confined alg OK
    expect_probe confined mkdir OK
    expect_probe confined ptrace_init EPERM
    expect_probe admin mount OK
    expect_probe open seccomp_mode 0
    expect_probe open userns OK
    expect_probe open keyctl OK
    expect_probe open clone3 OK
}

# cgroup v2 has no devices controller: berth attaches a BPF device program.
c_devices_bpf() {
    trap 'destroy_quietly v2harden.yaml' EXIT
    harden_up
    run cat "/proc/$(pid_with_cmd v2harden admin sleep)/root/tmp/probe.out"
    expect_probe admin devnode open:EPERM
    expect_probe admin open:/dev/null OK
    expect_probe admin open:/dev/ptmx OK
}

# berth init holds no capability effective; its bounding set is the container's, and for a
# uid 0 command (this one) it keeps the command's set as permitted only, for the
# healthchecks it forks (HealthEndpoint): never more than the command.
c_init_privileges() {
    trap 'destroy_quietly v2harden.yaml' EXIT
    harden_up
    init=$(init_pid v2harden confined) || fail "no init"
    for f in CapEff CapInh CapAmb; do
        got=$(field "/proc/$init/status" "$f:"); echo "$f: $got"
        [ "$got" = 0000000000000000 ] || fail "berth init's $f is $got"
    done
    for f in CapPrm CapBnd; do
        got=$(field "/proc/$init/status" "$f:"); echo "$f: $got"
        [ "$got" = 00000000a80425fb ] || fail "berth init's $f is $got, want the command's set (Docker's default) 00000000a80425fb"
    done
}

c_cgroup_namespace() {
    trap 'destroy_quietly v2cgns.yaml' EXIT
    apply_ok v2cgns.yaml
    poll 30 pid_with_cmd v2cgns scoped sleep >/dev/null || { show_procs v2cgns scoped; fail "the container's command is not running"; }
    cmd=$(pid_with_cmd v2cgns scoped sleep)
    host=$(readlink /proc/1/ns/cgroup); inside=$(readlink /proc/$cmd/ns/cgroup)
    echo "cgroup: host $host, container $inside"
    [ "$host" != "$inside" ] || fail "the container shares the host's cgroup namespace"
    # A cgroup namespace is rooted at the cgroup its first process was in when it
    # was made: the container's own cgroup, if berth placed the process there first.
    view=$(cat "/proc/$cmd/root/tmp/cgroup-view" 2>/dev/null)
    echo "/proc/self/cgroup inside: $view"
    [ "$view" = "0::/" ] ||
        fail "inside its cgroup namespace the container sees \"$view\" in /proc/self/cgroup, want \"0::/\" (the namespace is rooted above the container's cgroup)"
}

# berth's links: its bridges here, and host veth ends (bv + 13 hex digits).
berth_links() { ls /sys/class/net | grep '^bv' | tr '\n' ' '; }

c_net_apply() {
    apply_ok v2net.yaml
    run ip -4 addr show dev bv2net0 || fail "no bridge bv2net0 after apply"
    ip -4 addr show dev bv2net0 | grep -q 'inet 10.77.1.1/24' || fail "bv2net0 does not have the gateway address 10.77.1.1/24"
    ip link show dev bv2net0 | grep -q 'UP' || fail "bv2net0 is down"
    for c in web client; do
        poll 30 init_pid v2net "$c" >/dev/null || { show_procs v2net "$c"; fail "container $c is not running"; }
    done
    touch "$STATE/ok-net_apply"
}

c_net_addresses() {
    needs net_apply
    web=$(init_pid v2net web); client=$(init_pid v2net client)
    run nsenter -t "$web" -n ip -4 addr show dev eth0 || fail "web has no eth0 in its network namespace"
    nsenter -t "$web" -n ip -4 addr show dev eth0 | grep -q 'inet 10.77.1.10/24' || fail "web's eth0 does not have 10.77.1.10/24"
    run nsenter -t "$client" -n ip -4 addr show dev eth0 || fail "client has no eth0 in its network namespace"
    addr=$(nsenter -t "$client" -n ip -4 addr show dev eth0 | awk '/inet / { print $2 }')
    case "$addr" in
        10.77.1.1/24|10.77.1.10/24|10.77.1.0/24|10.77.1.255/24) fail "client got $addr, an address it must not have" ;;
        10.77.1.*/24) echo "client: $addr" ;;
        *) fail "client's eth0 has \"$addr\", not an address in 10.77.1.0/24" ;;
    esac
    run nsenter -t "$client" -n ip route
    nsenter -t "$client" -n ip route | grep -q 'default via 10.77.1.1' || fail "client has no default route via 10.77.1.1"
}

# Debian's busybox 1.35 wget crashes with -T (its own timeout): `timeout` instead.
fetch_web() { timeout 10 wget -q -O - http://10.77.1.10:8080/ 2>&1; }

c_net_reach() {
    needs net_apply
    client=$(init_pid v2net client)
    poll 30 sh -c 'timeout 10 wget -q -O - http://10.77.1.10:8080/ >/dev/null 2>&1' ||
        { run timeout 10 wget -O - http://10.77.1.10:8080/; fail "the host cannot fetch http://10.77.1.10:8080/ from web"; }
    out=$(fetch_web); echo "from the host: $out"
    [ "$out" = hello-from-web ] || fail "the host fetched \"$out\", want hello-from-web"
    out=$(nsenter -t "$client" -n timeout 10 wget -q -O - http://10.77.1.10:8080/ 2>&1); echo "from client: $out"
    [ "$out" = hello-from-web ] || fail "client fetched \"$out\" from web over the bridge, want hello-from-web"
}

c_net_destroy() {
    needs net_apply
    run berth destroy -f "$WORK/v2net.yaml" || fail "berth destroy exited $rc"
    ! ip link show dev bv2net0 >/dev/null 2>&1 || fail "bridge bv2net0 is still there after destroy"
    # The kernel removes a veth whose namespace died in a work queue, a moment
    # after the last process is gone: wait for it, and say how long it took.
    t0=$(cut -d' ' -f1 /proc/uptime)
    [ -z "$(berth_links)" ] || echo "right after destroy: $(berth_links)"
    poll 10 sh -c '[ -z "$(ls /sys/class/net | grep "^bv")" ]' || fail "links left 10s after destroy: $(berth_links)"
    echo "no berth links after $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')s"
    [ ! -e "$CG/berth/v2net" ] || fail "$CG/berth/v2net is still there after destroy"
}

# destroy, then apply at once: the names berth derives are the same again, while
# the kernel may still be tearing down the old veths.
c_net_reapply() {
    trap 'destroy_quietly v2net.yaml' EXIT
    for round in 1 2 3; do
        apply_ok v2net.yaml
        run berth destroy -f "$WORK/v2net.yaml" || fail "berth destroy exited $rc (round $round)"
    done
    apply_ok v2net.yaml
    poll 30 sh -c 'timeout 10 wget -q -O - http://10.77.1.10:8080/ >/dev/null 2>&1' ||
        fail "web is not reachable after destroy and apply again"
}

# from_left URL: fetch URL from inside the left container's network namespace.
from_left() { nsenter -t "$(init_pid v2isolate left)" -n timeout 5 wget -q -O - "$1" 2>&1; }

c_net_isolation() {
    trap 'destroy_quietly v2isolate.yaml' EXIT
    apply_ok v2isolate.yaml
    for c in left right; do
        poll 30 sh -c "timeout 5 wget -q -O - http://10.77.$([ $c = left ] && echo 2 || echo 3).10:8080/ >/dev/null 2>&1" ||
            fail "the host cannot reach $c"
    done
    run cat /proc/sys/net/ipv4/ip_forward
    [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || fail "masquerade is on, but berth did not turn on IP forwarding"
    run nft list table ip berth || fail "berth's nftables table is missing"
    nft list table ip berth | grep -q masquerade || fail "no masquerade rule for network a"
    out=$(from_left http://10.77.3.10:8080/); echo "left -> right: $out"
    [ "$out" != hello-from-right ] || fail "left reached right across networks: berth does not keep networks apart"
    # Control: without berth's rules, the host routes left to right; so it was the rule.
    run nft delete table ip berth || fail "cannot delete berth's table"
    poll 20 sh -c "nsenter -t $(init_pid v2isolate left) -n timeout 5 wget -q -O - http://10.77.3.10:8080/ >/dev/null 2>&1" ||
        fail "left cannot reach right even without berth's rules: the isolation test proves nothing here"
    echo "left -> right without berth's rules: $(from_left http://10.77.3.10:8080/)"
    out=$(berth plan -f "$WORK/v2isolate.yaml" --detailed-exitcode 2>&1); rc=$?; echo "$out"
    [ "$rc" -eq 2 ] || fail "berth plan exited $rc after its nftables table was deleted by hand, want 2"
    echo "$out" | grep -qi isolation || fail "the plan does not mention the missing isolation"
    apply_ok v2isolate.yaml
    out=$(from_left http://10.77.3.10:8080/); echo "left -> right after apply: $out"
    [ "$out" != hello-from-right ] || fail "apply did not restore the isolation between networks"
}

# iproute2's ip (vmtest/run.sh puts it at /sbin/ip): busybox's sh runs its own
# applets before PATH, and the busybox ip cannot name a veth's peer or move it.
IPR=/sbin/ip

# A "LAN" for the port and lan checks: a network namespace held by a sleeping
# process (its pid in $STATE/lan-pid), joined to the VM by a veth.
#   lan_up VM_END VM_ADDRESS LAN_END LAN_ADDRESS
lan_up() {
    unshare -n sleep 100000 &
    echo $! >"$STATE/lan-pid"
    poll 5 sh -c "[ \"\$(readlink /proc/$!/ns/net)\" != \"\$(readlink /proc/1/ns/net)\" ]" || fail "unshare -n made no namespace"
    $IPR link add "$1" type veth peer name "$3" || fail "cannot make the veth $1"
    $IPR link set "$3" netns "$!" || fail "cannot move $3 into the LAN namespace"
    $IPR addr add "$2" dev "$1" && $IPR link set "$1" up || fail "cannot address $1"
    nsenter -t "$!" -n sh -c "$IPR link set lo up && $IPR addr add $4 dev $3 && $IPR link set $3 up" ||
        fail "cannot address $3 in the LAN namespace"
}
#   lan_down VM_END
lan_down() {
    kill "$(cat "$STATE/lan-pid" 2>/dev/null)" 2>/dev/null
    $IPR link del "$1" 2>/dev/null
}
in_lan() { nsenter -t "$(cat "$STATE/lan-pid")" -n "$@"; }

c_net_ports() {
    trap 'destroy_quietly v2ports.yaml; lan_down vmport0' EXIT
    lan_up vmport0 10.79.0.1/24 vmport1 10.79.0.2/24
    apply_ok v2ports.yaml
    poll 30 sh -c 'timeout 5 wget -q -O - http://127.0.0.1:18080/ >/dev/null 2>&1' ||
        { run nft list table ip berth; fail "the VM cannot fetch its published port http://127.0.0.1:18080/"; }
    out=$(timeout 5 wget -q -O - http://127.0.0.1:18080/ 2>&1); echo "127.0.0.1:18080: $out"
    [ "$out" = hello-from-web ] || fail "127.0.0.1:18080 answered \"$out\", want hello-from-web"
    out=$(in_lan timeout 5 wget -q -O - http://10.79.0.1:18080/ 2>&1); echo "LAN host -> 10.79.0.1:18080: $out"
    [ "$out" = hello-from-web ] || { run nft list table ip berth; fail "the LAN namespace fetched \"$out\" from the VM's address, want hello-from-web"; }
    client=$(init_pid v2ports client)
    out=$(nsenter -t "$client" -n timeout 5 wget -q -O - http://10.79.0.1:18080/ 2>&1); echo "client -> 10.79.0.1:18080 (hairpin): $out"
    [ "$out" = hello-from-web ] || fail "client fetched \"$out\" through the VM's address, want hello-from-web (hairpin)"
    run berth plan -f "$WORK/v2ports.yaml" --detailed-exitcode
    [ "$rc" -eq 0 ] || fail "berth plan exited $rc after the apply with ports, want 0"
    run berth destroy -f "$WORK/v2ports.yaml" || fail "berth destroy exited $rc"
    ! nft list table ip berth 2>/dev/null | grep -q 18080 || fail "a rule for port 18080 is left after destroy"
    out=$(timeout 3 wget -q -O - http://127.0.0.1:18080/ 2>&1) && fail "127.0.0.1:18080 still answers after destroy: $out"
    true
}

# The lan check's LAN holds the router 10.78.0.1; vmnic0 (10.78.0.5) plays the VM's NIC.
nic_master() { basename "$(readlink /sys/class/net/vmnic0/master 2>/dev/null)" 2>/dev/null; }

c_net_lan() {
    trap 'destroy_quietly v2lan.yaml; lan_down vmnic0' EXIT
    lan_up vmnic0 10.78.0.5/24 vmlan0 10.78.0.1/24
    before_addr=$($IPR -4 -o addr show dev vmnic0 | awk '{ print $4 }')
    before_route=$($IPR -4 route show dev vmnic0 | sort)
    apply_ok v2lan.yaml
    bridge=$(nic_master)
    [ -n "$bridge" ] || { run $IPR link; fail "vmnic0 is not a port of a bridge after apply"; }
    run $IPR -4 addr show dev "$bridge"
    $IPR -4 -o addr show dev "$bridge" | grep -q 'inet 10.78.0.5/24' || fail "the bridge $bridge does not hold vmnic0's 10.78.0.5/24"
    [ -z "$($IPR -4 -o addr show dev vmnic0)" ] || fail "vmnic0 still has an IPv4 address after the takeover"
    [ "$(cat /sys/class/net/$bridge/address)" = "$(cat /sys/class/net/vmnic0/address)" ] ||
        fail "the bridge's MAC is not vmnic0's"
    web=$(init_pid v2lan web)
    run nsenter -t "$web" -n $IPR -4 addr show dev eth0
    nsenter -t "$web" -n $IPR -4 addr show dev eth0 | grep -q 'inet 10.78.0.20/24' || fail "web's eth0 does not have 10.78.0.20/24"
    nsenter -t "$web" -n $IPR route | grep -q 'default via 10.78.0.1' || fail "web's default route is not the LAN's router 10.78.0.1"
    poll 30 sh -c "nsenter -t $(cat "$STATE/lan-pid") -n timeout 5 wget -q -O - http://10.78.0.20:8080/ >/dev/null 2>&1" ||
        fail "the LAN namespace cannot fetch http://10.78.0.20:8080/ from web"
    out=$(in_lan timeout 5 wget -q -O - http://10.78.0.20:8080/ 2>&1); echo "LAN -> web: $out"
    [ "$out" = hello-from-web ] || fail "the LAN fetched \"$out\" from web, want hello-from-web"
    run in_lan $IPR neigh show 10.78.0.20
    run berth plan -f "$WORK/v2lan.yaml" --detailed-exitcode
    [ "$rc" -eq 0 ] || fail "berth plan exited $rc after the lan apply, want 0"
    run berth destroy -f "$WORK/v2lan.yaml" || fail "berth destroy exited $rc"
    [ -z "$(nic_master)" ] || fail "vmnic0 is still a port of $(nic_master) after destroy"
    after_addr=$($IPR -4 -o addr show dev vmnic0 | awk '{ print $4 }')
    after_route=$($IPR -4 route show dev vmnic0 | sort)
    echo "vmnic0 before: $before_addr / $before_route; after: $after_addr / $after_route"
    [ "$after_addr" = "$before_addr" ] || fail "vmnic0 has \"$after_addr\" after destroy, had \"$before_addr\""
    [ "$after_route" = "$before_route" ] || fail "the routes by vmnic0 are \"$after_route\" after destroy, were \"$before_route\""
    ! $IPR link show dev "$bridge" >/dev/null 2>&1 || fail "the bridge $bridge is still there after destroy"
}

c_memory_page_rounding() {
    trap 'destroy_quietly v2round.yaml' EXIT
    apply_ok v2round.yaml
    run cat "$(cgdir v2round rounded)/memory.max"
    run berth plan -f "$WORK/v2round.yaml" --detailed-exitcode
    [ "$rc" -eq 0 ] || fail "memory: 50000000 reads back page-rounded, and berth plan calls that a change (exit $rc)"
}

c_limit_memory_oom() {
    trap 'destroy_quietly v2oom.yaml' EXIT
    apply_ok v2oom.yaml
    events=$(cgdir v2oom hog)/memory.events
    oom_killed() { [ "$(field "$events" oom_kill)" -ge 1 ] 2>/dev/null; }
    poll 60 oom_killed || { run cat "$events"; show_procs v2oom hog; fail "no oom_kill in $events within 60s (dd of 64M under memory: 32Mi)"; }
    run cat "$events"
    run cat "$(cgdir v2oom hog)/memory.peak" 2>/dev/null
    # The shell that started dd survives the kill, records dd's status and goes on.
    poll 30 pid_with_cmd v2oom hog sleep >/dev/null || { show_procs v2oom hog; fail "the container's shell did not survive the OOM kill of its child"; }
    pid=$(pid_with_cmd v2oom hog sleep)
    status=$(cat "/proc/$pid/root/tmp/v2oom-dd-exit" 2>/dev/null)
    echo "dd exited $status"
    [ "$status" = 137 ] || fail "dd exited \"$status\", want 137 (killed by SIGKILL)"
}

c_limit_pids_fork_loop() {
    trap 'destroy_quietly v2pids.yaml' EXIT
    apply_ok v2pids.yaml
    dir=$(cgdir v2pids forker)
    hit_max() { [ "$(field "$dir/pids.events" max)" -ge 1 ] 2>/dev/null; }
    poll 60 hit_max || { run cat "$dir/pids.events" "$dir/pids.current"; fail "the fork loop never hit pids.max within 60s"; }
    run cat "$dir/pids.events" "$dir/pids.current" "$dir/pids.max"
    [ "$(cat "$dir/pids.current")" -le 16 ] || fail "pids.current is $(cat "$dir/pids.current"), above pids: 16"
    poll 30 pid_with_cmd v2pids forker sleep >/dev/null || fail "the container's shell did not go on after the fork loop stopped"
}

c_limit_cpu_throttled() {
    trap 'destroy_quietly v2cpu.yaml' EXIT
    apply_ok v2cpu.yaml
    dir=$(cgdir v2cpu spinner)
    run cat "$dir/cpu.max"
    sleep 1
    u0=$(field "$dir/cpu.stat" usage_usec); t0=$(cut -d' ' -f1 /proc/uptime)
    sleep 3
    u1=$(field "$dir/cpu.stat" usage_usec); t1=$(cut -d' ' -f1 /proc/uptime)
    run cat "$dir/cpu.stat"
    [ "$(field "$dir/cpu.stat" nr_throttled)" -ge 1 ] 2>/dev/null || fail "the spinner was never throttled (cpu.stat nr_throttled)"
    # usage in microseconds per second of wall time, in millicores: about 200.
    mc=$(awk -v u0="$u0" -v u1="$u1" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%d", (u1 - u0) / ((t1 - t0) * 1000) }')
    echo "the spinner used $mc millicores"
    [ "$mc" -le 400 ] || fail "the spinner used $mc millicores under cpus: 0.2"
    [ "$mc" -ge 50 ] || fail "the spinner used $mc millicores: it is not running"
}

c_status() {
    needs apply
    out=$(berth status -p v2check 2>&1)
    rc=$?
    echo "$out"
    [ "$rc" -eq 0 ] || fail "berth status exited $rc"
    init=$(init_pid v2check limited) || fail "the container is not running"
    echo "$out" | grep -Eq "limited +running +$init( |\$)" ||
        fail "berth status does not show limited as running with pid $init"
}

# A process is gone when /proc has no entry for it or only a zombie left to reap.
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

c_destroy() {
    needs apply
    # A process berth did not start, put into the container's cgroup by hand:
    # destroy must kill it too (cgroup.kill, or its equivalent).
    setsid sleep 100001 </dev/null >/dev/null 2>&1 &
    stray=$!
    echo "$stray" >"$(cgdir v2check limited)/cgroup.procs" || fail "cannot move a process into $(cgdir v2check limited)"
    pids=$(procs_of v2check limited)
    echo "processes before destroy: $(echo $pids)"
    spec=v2check.yaml
    [ -e "$WORK/v2check-raised.yaml" ] && spec=v2check-raised.yaml
    run berth destroy -f "$WORK/$spec" || fail "berth destroy exited $rc"
    [ ! -e "$CG/berth/v2check" ] || fail "$CG/berth/v2check is still there after destroy: $(find "$CG/berth/v2check" -type d | tr '\n' ' ')"
    for p in $pids; do
        ! alive "$p" || fail "process $p ($(cmdline "$p")) still runs after destroy"
    done
    run berth status -p v2check
}

c_no_leftovers() {
    left=$(find "$CG/berth" -mindepth 1 -type d 2>/dev/null)
    [ -z "$left" ] || fail "cgroups left after every project was destroyed: $(echo $left)"
    [ -z "$(berth_links)" ] || fail "links left behind: $(berth_links)"
    ! nft list table ip berth >/dev/null 2>&1 || fail "berth's nftables table is left: $(nft list table ip berth | tr -s '\n\t' ' ')"
    mounts=$(grep -E '/vmtest/work|/var/lib/berth/' /proc/mounts)
    [ -z "$mounts" ] || fail "mounts left behind: $(echo "$mounts" | cut -d' ' -f2 | tr '\n' ' ')"
    for p in $(ls /proc | grep -E '^[0-9]+$'); do
        case "$(cmdline "$p")" in
            "berth init"*|sleep\ 1000*) ! alive "$p" || fail "process $p ($(cmdline "$p")) is left running" ;;
        esac
    done
}

# --- the runner -----------------------------------------------------------------

if [ "$1" = --one ]; then
    "c_$2"
    exit $?
fi

CHECKS="kernel_cgroup2 kernel_modules berth_libs berth_help berth_validate
apply container_namespaces cgroup_delegation cgroup_cpu_max cgroup_cpu_weight cgroup_cpuset
cgroup_memory_max cgroup_memory_swap_max cgroup_pids_max cgroup_io_max plan_no_changes status
drift_reported drift_repaired update_in_place clone_into_cgroup user_namespace cgroup_namespace memory_page_rounding
seccomp_default devices_bpf init_privileges
limit_memory_oom limit_pids_fork_loop limit_cpu_throttled net_apply net_addresses net_reach net_destroy net_reapply net_isolation
net_ports net_lan
destroy no_leftovers"

# Only the checks named on the kernel command line (berth.checks=a,b), if any.
only=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^berth\.checks=//p' | tr ',' ' ')
[ -z "$only" ] || CHECKS=$only
# berth.showlogs=1: the output of passing checks too.
showlogs=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^berth\.showlogs=1$/yes/p')

mkdir -p "$LOGS" "$STATE"
echo "BERTH-INFO up $(cut -d' ' -f1 /proc/uptime)s when the checks start"
echo "BERTH-INFO kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print $2 / 1024 " MiB" }' /proc/meminfo)"
echo "BERTH-INFO root filesystem $(awk '$2 == "/" { print $3 }' /proc/mounts | tail -n 1), cgroup2 controllers: $(cat $CG/cgroup.controllers)"
echo "BERTH-INFO a CPU stuck in the kernel panics the VM: softlockup_panic=$(cat /proc/sys/kernel/softlockup_panic 2>/dev/null || echo unknown)"
echo "BERTH-INFO berth built from $(cat /vmtest/build-info 2>/dev/null || echo 'an unknown tree')"

passed=0
failed=0
for name in $CHECKS; do
    log=$LOGS/$name.log
    start=$(cut -d' ' -f1 /proc/uptime)
    timeout -s KILL "$CHECK_TIMEOUT" sh "$SELF" --one "$name" >"$log" 2>&1
    rc=$?
    took=$(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')
    shown=$(echo "$name" | tr _ -)
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "BERTH-CHECK PASS $shown (${took}s)"
        [ -z "$showlogs" ] || sed "s/^/BERTH-LOG $shown: /" "$log"
    else
        failed=$((failed + 1))
        reason=$(sed -n 's/^REASON: //p' "$log" | tail -n 1)
        if [ -z "$reason" ]; then
            if [ "$rc" -eq 137 ] || [ "$rc" -eq 124 ]; then
                reason="timed out after ${CHECK_TIMEOUT}s"
            else
                reason="exited $rc: $(grep -v '^REASON: ' "$log" | tail -n 1)"
            fi
        fi
        echo "BERTH-CHECK FAIL $shown: $reason"
        grep -v '^REASON: ' "$log" | tail -n 30 | sed "s/^/BERTH-LOG $shown: /"
    fi
done
echo "BERTH-DONE $passed $failed"
