#!/usr/bin/env bash
# make test-v2: prove berth on a real cgroup v2 kernel.
#
# Builds berth (release, Swift stdlib static), packs it with the shared
# libraries it needs, busybox, the checks and the kernel modules they use into
# an initramfs, boots Debian's kernel on it under qemu (KVM when /dev/kvm is
# usable, software emulation otherwise), and turns the results the VM prints on
# its console into PASS/FAIL lines and an exit code. See vmtest/README.md.
#
# Everything comes from Debian packages: qemu-system-x86, busybox-static and
# nftables are installed when missing; the kernel package is downloaded (not installed) and
# unpacked into a cache under .build/vmtest. The VM has no network device.
#
# Settings (environment):
#   VMTEST_TIMEOUT   seconds before the VM is declared hung (default 900)
#   VMTEST_ACCEL     auto | kvm | tcg (default auto: kvm when /dev/kvm is usable)
#   VMTEST_MEM       guest memory in MiB (default 1024)
#   VMTEST_SMP       guest CPUs (default 2; the cpuset check pins CPU 1)
#   VMTEST_CHECKS    comma-separated check names to run, default all
#   VMTEST_KERNEL    kernel package, e.g. linux-image-6.1.0-56-amd64
#                    (default: what linux-image-amd64 depends on today)
#   VMTEST_BERTH     a berth binary to test instead of building one
#   VMTEST_BERTH_INIT the berth-init to go with it (default: berth-init beside VMTEST_BERTH)
#   VMTEST_SCRATCH   swift build scratch path (default .build-v2vm)
#   VMTEST_VERBOSE=1 stream the whole console, not only the results
#   VMTEST_SHOWLOGS=1 print the output of passing checks too (in the console log)
#   VMTEST_APPEND    more kernel parameters for the VM (e.g. loglevel=7)
set -eEuo pipefail
on_error() { echo "test-v2: error: vmtest/run.sh line $1: \"$2\" failed" >&2; }
trap 'on_error $LINENO "$BASH_COMMAND"' ERR

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/.build/vmtest
TIMEOUT=${VMTEST_TIMEOUT:-900}
ACCEL=${VMTEST_ACCEL:-auto}
MEM=${VMTEST_MEM:-1024}
SMP=${VMTEST_SMP:-2}
SCRATCH=${VMTEST_SCRATCH:-$ROOT/.build-v2vm}
SWIFT=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
# The modules the checks need; their dependencies come from modules.dep. nf_tables
# and the nat chain carry berth's network rules; masquerade needs nft_masq, published
# ports nft_nat (dnat), nft_ct (ct status) and nft_fib_ipv4 (fib daddr type local); lan
# networks af_packet (berth's ARP probes) and macvlan.
MODULES="virtio_pci virtio_blk bridge veth nf_tables nft_chain_nat nft_masq nft_nat nft_ct nft_fib_ipv4 af_packet macvlan"

say() { echo "test-v2: $*" >&2; }
die() { say "error: $*"; exit 1; }
now() { date +%s; }
t_start=$(now)
mkdir -p "$OUT"

# --- host packages --------------------------------------------------------------

need_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
need_packages qemu-system-x86 busybox-static nftables gcc libc6-dev
BUSYBOX=/bin/busybox

# --- the kernel: a Debian package, unpacked into a cache, never installed --------

kernel_package() {
    if [ -n "${VMTEST_KERNEL:-}" ]; then echo "$VMTEST_KERNEL"; return; fi
    local pkg
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }' || true)
    if [ -z "$pkg" ]; then
        apt-get update -qq >/dev/null 2>&1 || true
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }' || true)
    fi
    if [ -z "$pkg" ]; then
        # No package lists (offline): the newest kernel already in the cache.
        pkg=$(ls -1 "$OUT/kernel" 2>/dev/null | sort -V | tail -n 1 || true)
    fi
    [ -n "$pkg" ] || die "cannot tell which linux-image package to use (set VMTEST_KERNEL)"
    echo "$pkg"
}

KPKG=$(kernel_package)
KDIR=$OUT/kernel/$KPKG
if [ ! -e "$KDIR/.complete" ]; then
    say "fetching $KPKG (Debian package, unpacked under $OUT, not installed)"
    rm -rf "$OUT/deb" "$KDIR"
    mkdir -p "$OUT/deb" "$KDIR"
    (cd "$OUT/deb" && apt-get download -q -o APT::Sandbox::User=root "$KPKG" >/dev/null) ||
        die "apt-get download $KPKG failed"
    dpkg-deb -x "$OUT"/deb/"$KPKG"_*.deb "$KDIR"
    rm -rf "$KDIR/usr/share" "$OUT/deb"
    kver=$(ls -1 "$KDIR/lib/modules" | head -n 1)
    # Debian generates modules.dep at install time; this package was not installed.
    "$BUSYBOX" depmod -b "$KDIR" "$kver"
    touch "$KDIR/.complete"
fi
KVER=$(ls -1 "$KDIR/lib/modules" | head -n 1)
VMLINUZ=$KDIR/boot/vmlinuz-$KVER
[ -r "$VMLINUZ" ] || die "no kernel image at $VMLINUZ"

# The modules to load, each after its dependencies (paths relative to the module
# dir). Soft dependencies count too: libcrc32c (under nf_tables) fails to load
# without a crc32c implementation, which only its "softdep=pre: crc32c" names.
module_order() {
    local mdir=$KDIR/lib/modules/$KVER seen=" " m
    module_path() {  # a module name or alias -> its path in modules.dep
        local name=${1//-/_} found
        found=$(awk -F: -v m="/$name.ko" 'substr($1, length($1) - length(m) + 1) == m { print $1; exit }' "$mdir/modules.dep")
        if [ -z "$found" ]; then
            # An alias: prefer the portable *_generic implementation.
            name=$(awk -v a="$1" '$1 == "alias" && $2 == a { print $3 }' "$mdir/modules.alias" |
                awk '/_generic$/ { g = $0 } NR == 1 { f = $0 } END { print (g != "" ? g : f) }')
            [ -n "$name" ] && found=$(awk -F: -v m="/$name.ko" 'substr($1, length($1) - length(m) + 1) == m { print $1; exit }' "$mdir/modules.dep")
        fi
        echo "$found"
    }
    visit() {
        local path=$1 d soft
        case "$seen" in *" $path "*) return ;; esac
        seen="$seen$path "
        soft=$(grep -a -o 'softdep=pre: [^[:cntrl:]]*' "$mdir/$path" | head -n 1 | sed 's/^softdep=pre: //; s/ post:.*//' || true)
        for d in $soft; do
            d=$(module_path "$d")
            [ -n "$d" ] && visit "$d"
        done
        for d in $(awk -v p="$path:" '$1 == p { $1 = ""; print }' "$mdir/modules.dep"); do visit "$d"; done
        echo "$path"
    }
    for m in $MODULES; do
        local path
        path=$(module_path "$m")
        if [ -z "$path" ]; then
            grep -q "/$m.ko" "$mdir/modules.builtin" || die "module $m is neither in modules.dep nor built in"
            continue
        fi
        visit "$path"
    done
}

# --- berth ----------------------------------------------------------------------

if [ -n "${VMTEST_BERTH:-}" ]; then
    BERTH=$VMTEST_BERTH
else
    say "building berth (release, static Swift stdlib) in $SCRATCH"
    t0=$(now)
    "$SWIFT" build -c release --static-swift-stdlib --disable-local-rpath --scratch-path "$SCRATCH" >"$OUT/build.log" 2>&1 ||
        { tail -n 40 "$OUT/build.log" >&2; die "swift build failed (log: $OUT/build.log)"; }
    BERTH=$("$SWIFT" build -c release --static-swift-stdlib --disable-local-rpath --scratch-path "$SCRATCH" --show-bin-path)/berth
    say "built in $(($(now) - t0))s"
fi
[ -x "$BERTH" ] || die "no berth binary at $BERTH"
# Every container's init: installed beside berth, where berth looks for it.
BERTH_INIT=${VMTEST_BERTH_INIT:-$(dirname "$BERTH")/berth-init}
[ -x "$BERTH_INIT" ] || die "no berth-init binary at $BERTH_INIT"

# --- the initramfs ----------------------------------------------------------------

STAGE=$OUT/initramfs
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,dev,proc,sys,newroot,vmtest/specs,vmtest/work}

cp "$BUSYBOX" "$STAGE/bin/busybox"
"$BUSYBOX" --list-full | while read -r applet; do
    [ -e "$STAGE/$applet" ] || ln -s /bin/busybox "$STAGE/$applet"
done

# A program, and the shared libraries and loader it links, at the same paths.
install_program() {
    local from=$1 to=$2
    mkdir -p "$STAGE$(dirname "$to")"
    cp "$from" "$STAGE$to"
    if ldd "$from" | grep -q 'not found'; then
        die "$from needs libraries this host lacks: $(ldd "$from" | grep 'not found' | tr -s ' \t\n' ' ')"
    fi
    ldd "$from" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
        while read -r lib; do
            [ -e "$STAGE$lib" ] && continue
            mkdir -p "$STAGE$(dirname "$lib")"
            cp -L "$lib" "$STAGE$lib"
        done
}
install_program "$BERTH" /usr/local/bin/berth
install_program "$BERTH_INIT" /usr/local/bin/berth-init
# berth keeps networks apart (and masquerades) with nft, from Debian's nftables.
install_program "$(command -v nft || echo /usr/sbin/nft)" /usr/sbin/nft
# The lan and port checks make veths and move them between namespaces: iproute2's ip
# (busybox's cannot), in place of the busybox applet.
ip_tool=$(command -v ip || echo /usr/sbin/ip)
rm -f "$STAGE/sbin/ip" "$STAGE/bin/ip"
install_program "$ip_tool" /sbin/ip

module_order >"$STAGE/vmtest/modules.list"
while read -r m; do
    mkdir -p "$STAGE/lib/modules/$KVER/$(dirname "$m")"
    cp "$KDIR/lib/modules/$KVER/$m" "$STAGE/lib/modules/$KVER/$m"
done <"$STAGE/vmtest/modules.list"

cp vmtest/init.sh "$STAGE/init"
if [ -n "${VMTEST_BERTH:-}" ]; then
    echo "$VMTEST_BERTH (given)" >"$STAGE/vmtest/build-info"
else
    desc=$(git describe --always --dirty 2>/dev/null || echo unknown)
    echo "the work tree at $desc" >"$STAGE/vmtest/build-info"
fi
cp vmtest/checks.sh "$STAGE/vmtest/checks.sh"
# The hardening probe (Tests/Probes/probe.c), static: the containers' rootfs has no C library.
gcc -static -O2 -o "$STAGE/vmtest/probe" Tests/Probes/probe.c || die "gcc could not build Tests/Probes/probe.c"
cp vmtest/specs/*.yaml "$STAGE/vmtest/specs/"
chmod 0755 "$STAGE/init" "$STAGE/vmtest/checks.sh"
# The kernel opens /dev/console for /init before anything is mounted.
[ "$(id -u)" -eq 0 ] && mknod -m 600 "$STAGE/dev/console" c 5 1

INITRD=$OUT/initramfs.cpio.gz
(cd "$STAGE" && find . | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$INITRD"

# A scratch disk for the io checks (/dev/vda in the VM): a sparse file, new each run.
DISK=$OUT/disk.img
rm -f "$DISK"
truncate -s 64M "$DISK"

# --- boot -------------------------------------------------------------------------

# KVM only when /dev/kvm is there and this kernel boots on it: a nested host
# may offer the device without what qemu needs behind it (seen: "failed to set
# MSR", or a guest that never gets past the BIOS). The probe boots a one-line
# /init that prints a word and powers off.
kvm_works() {
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || { KVM_NOTE=" (no /dev/kvm)"; return 1; }
    local probe=$OUT/kvm-probe
    rm -rf "$probe" && mkdir -p "$probe/root/bin" "$probe/root/dev"
    cp "$BUSYBOX" "$probe/root/bin/busybox"
    printf '#!/bin/busybox sh\n/bin/busybox echo BERTH-KVM-OK\n/bin/busybox poweroff -f\n' >"$probe/root/init"
    chmod 0755 "$probe/root/init"
    [ "$(id -u)" -ne 0 ] || mknod -m 600 "$probe/root/dev/console" c 5 1
    (cd "$probe/root" && find . | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$probe/initrd"
    # In a subshell, so that bash's "Aborted" job notice for a crashing qemu goes nowhere.
    (timeout -k 5 30 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nographic -no-reboot -nic none \
        -kernel "$VMLINUZ" -initrd "$probe/initrd" -append "console=ttyS0 quiet panic=-1" \
        </dev/null 2>&1 | tr -d '\r' >"$probe/console.log") 2>/dev/null
    grep -q '^BERTH-KVM-OK' "$probe/console.log" && return 0
    KVM_NOTE=" (probe boot: $(grep -v '^$' "$probe/console.log" | tail -n 1 | cut -c1-120))"
    return 1
}
if [ "$ACCEL" = auto ]; then
    if kvm_works; then
        ACCEL=kvm
    else
        say "KVM is not usable here${KVM_NOTE:-}; software emulation (tcg)"
        ACCEL=tcg
    fi
fi
case "$ACCEL" in
    kvm) CPU=host ;;  # what the probe booted
    tcg) CPU=max ;;
    *) die "VMTEST_ACCEL must be auto, kvm or tcg" ;;
esac

# softlockup_panic: a guest CPU stuck in the kernel panics the VM at once, with the
# kernel's lockup report on the console, instead of hanging until the timeout;
# panic=-1 and -no-reboot turn the panic into qemu's exit.
# trace_event: the tracepoint the clone-into-cgroup check reads, on from boot (checks.sh).
APPEND="console=ttyS0 quiet panic=-1 softlockup_panic=1 trace_event=cgroup:cgroup_attach_task"
[ -n "${VMTEST_CHECKS:-}" ] && APPEND="$APPEND berth.checks=$VMTEST_CHECKS"
[ "${VMTEST_SHOWLOGS:-0}" = 1 ] && APPEND="$APPEND berth.showlogs=1"
[ -n "${VMTEST_APPEND:-}" ] && APPEND="$APPEND $VMTEST_APPEND"

LOG=$OUT/console.log

# boot: one run of the VM, its console in $LOG; sets $status (qemu's, or timeout's).
boot() {
    say "booting $KPKG ($KVER) with accel=$ACCEL, ${MEM}M, $SMP CPUs, timeout ${TIMEOUT}s; console log: $LOG"
    t_boot=$(now)
    set +e
    trap - ERR
    timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
        -accel "$ACCEL" -cpu "$CPU" -m "$MEM" -smp "$SMP" \
        -nographic -no-reboot -nic none \
        -kernel "$VMLINUZ" -initrd "$INITRD" -append "$APPEND" \
        -drive "file=$DISK,if=virtio,format=raw" \
        </dev/null 2>&1 | tr -d '\r' | tee "$LOG" | {
            if [ "${VMTEST_VERBOSE:-0}" = 1 ]; then cat; else
                grep --line-buffered -E '^BERTH-(CHECK|INFO|VM)' || true
            fi
        }
    status=${PIPESTATUS[0]}
    set -e
    trap 'on_error $LINENO "$BASH_COMMAND"' ERR
    boot_secs=$(($(now) - t_boot))
}

# The kernel's own words for a CPU that stopped scheduling.
LOCKUP='soft lockup - CPU#|Kernel panic - not syncing: softlockup'

boot
# Under software emulation only, a guest kernel lockup gets one more boot: a CPU of a
# guest under qemu's TCG stuck in the kernel once here (CI, 2026-12-03: CPU#1 for 775 s
# in a shell of the clone-into-cgroup check, which passed in every other TCG and KVM run
# of the same berth, 10 full TCG runs since included), which we take for the emulator's.
# The first console is kept and its lockup shown; a lockup on the second boot, or any
# lockup under KVM, fails the run.
if [ "$ACCEL" = tcg ] && ! grep -q '^BERTH-DONE ' "$LOG" && grep -qE "$LOCKUP" "$LOG"; then
    cp "$LOG" "$OUT/console-lockup.log"
    hung=$(grep '^BERTH-CHECK ' "$LOG" | tail -n 1 | sed 's/^BERTH-CHECK [A-Z]* \([^ :]*\).*/\1/')
    say "the guest kernel locked up under tcg after check ${hung:-none} (console: $OUT/console-lockup.log):"
    grep -E "$LOCKUP|RIP: |^ *\? |^ [a-z_]+\+0x" "$LOG" | head -n 30 | sed 's/^/    /' >&2
    say "booting once more: the whole run again, each check from the start"
    retried=", the second boot after a lockup in the first"
    rm -f "$DISK" && truncate -s 64M "$DISK"
    boot
fi

# --- the verdict ------------------------------------------------------------------

passed=$(grep -c '^BERTH-CHECK PASS ' "$LOG" || true)
failed=$(grep -c '^BERTH-CHECK FAIL ' "$LOG" || true)
done_line=$(grep '^BERTH-DONE ' "$LOG" | tail -n 1 || true)
problem=""

if [ "$failed" -gt 0 ]; then
    echo
    echo "Failed checks, with the tail of their output inside the VM:"
    sed -n 's/^BERTH-CHECK FAIL \([^:]*\):.*/\1/p' "$LOG" | while read -r name; do
        grep -F "BERTH-CHECK FAIL $name:" "$LOG" | sed 's/^BERTH-CHECK FAIL /FAIL /'
        grep -F "BERTH-LOG $name: " "$LOG" | sed 's/^BERTH-LOG /    /'
    done
fi
if [ -z "$done_line" ]; then
    if grep -qE "$LOCKUP" "$LOG"; then
        problem="the guest kernel locked up (a CPU stuck in the kernel; softlockup_panic stopped the VM)"
    elif [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        problem="the VM did not finish within ${TIMEOUT}s (hung?)"
    else
        problem="the VM stopped before reporting BERTH-DONE (qemu exit $status: crashed or panicked?)"
    fi
    echo
    echo "$problem; the last 40 lines of its console:"
    grep -v '^BERTH-LOG ' "$LOG" | tail -n 40 | sed -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/^/    /'
    failed=$((failed + 1))
else
    read -r _ done_passed done_failed <<<"$done_line"
    if [ "$done_passed" != "$passed" ] || [ "$done_failed" != "$failed" ]; then
        problem="the VM reported $done_passed passed, $done_failed failed, but the console shows $passed and $failed (lines lost?)"
        echo "$problem"
        failed=$((failed + 1))
    fi
fi
say "VM ran ${boot_secs}s (accel=$ACCEL${retried:-}); total $(($(now) - t_start))s"
echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then exit 1; fi
