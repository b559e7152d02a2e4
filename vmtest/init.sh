#!/bin/sh
# PID 1 of the cgroup v2 test VM (see vmtest/README.md).
#
# Stage 1 runs from the initramfs. The initramfs root is rootfs, where the
# kernel refuses pivot_root; a real host has a normal root filesystem, so stage 1
# copies itself into a tmpfs and switch_roots into it, as distribution initramfs
# do. Stage 2 then sets the machine up like a cgroup v2 host and runs the checks.

PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

if [ "$1" != stage2 ]; then
    mkdir -p /dev /proc /newroot
    mount -t devtmpfs devtmpfs /dev
    exec </dev/console >/dev/console 2>&1
    mount -t proc proc /proc
    # The console is shared with the kernel: keep its messages (an OOM kill is
    # logged at KERN_ERR) from landing in the middle of a result line.
    echo 1 >/proc/sys/kernel/printk
    mount -t tmpfs -o mode=0755 tmpfs /newroot
    for entry in /*; do
        case "$entry" in /dev|/proc|/sys|/newroot) continue ;; esac
        cp -a "$entry" /newroot/
    done
    mkdir -p /newroot/dev /newroot/proc /newroot/sys
    mount --move /dev /newroot/dev
    umount /proc
    exec switch_root /newroot /init stage2
    echo "BERTH-VM-ERROR switch_root failed"
    poweroff -f
fi

mount -t proc proc /proc
echo "BERTH-VM stage2: root is $(awk '$2 == "/" { print $3 }' /proc/mounts | tail -n 1)"

mount -t sysfs sysfs /sys
# As systemd mounts it on a unified host. The root's cgroup.subtree_control is
# left empty on purpose: enabling controllers down its path is berth's job.
mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate cgroup2 /sys/fs/cgroup
mkdir -p /dev/pts /dev/shm /run /tmp /var/lib
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
# /var/lib on its own tmpfs, as a host's would be (0755); berth creates its
# state directory there (the default /var/lib/berth) with the modes it chooses.
mount -t tmpfs -o mode=0755 tmpfs /var/lib
hostname berth-vm
ip link set lo up 2>/dev/null

# Kernel modules, in dependency order (vmtest/run.sh resolved modules.dep).
while read -r module; do
    [ -n "$module" ] || continue
    out=$(insmod "/lib/modules/$(uname -r)/$module" 2>&1) ||
        echo "BERTH-VM insmod $module: $out"
done </vmtest/modules.list

# The containers' root filesystem: busybox and its applets, next to the specs
# that name it as ./rootfs/busybox.
rootfs=/vmtest/work/rootfs/busybox
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp" "$rootfs/root"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
[ ! -e /vmtest/probe ] || cp /vmtest/probe "$rootfs/bin/probe"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
cp /vmtest/specs/*.yaml /vmtest/work/

sh /vmtest/checks.sh
echo "BERTH-VM checks finished (exit $?)"
sync
poweroff -f
