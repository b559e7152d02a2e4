"""Drives `berth exec` on a real pty, as a person at a terminal would.

argv: berth, project, container. Prints one JSON object with what was seen.
"""
import fcntl, json, os, re, select, signal, struct, subprocess, sys, termios, time

berth, project, name = sys.argv[1:4]
result = {}


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def start(args):
    """berth with the pty's slave as its stdio and controlling terminal."""
    master, slave = os.openpty()
    set_size(slave, 33, 101)
    before = termios.tcgetattr(slave)

    def child():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen([berth] + args, stdin=slave, stdout=slave, stderr=slave, preexec_fn=child, close_fds=True)
    return p, master, slave, before


def expect(master, pattern, seen, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, seen[0])
        if m:
            seen[0] = seen[0][m.end():]
            return m
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                seen[0] += os.read(master, 65536).decode(errors="replace")
            except OSError:
                break
    print(json.dumps({"error": "timed out waiting for %r" % pattern, "seen": seen[0], **result}))
    sys.exit(1)


# 1. exec -it: an interactive shell on a terminal of its own.
p, master, slave, before = start(["exec", "-it", "-p", project, name, "--", "sh"])
seen = [""]
os.write(master, b"echo tty=$(tty) size=$(stty size) stat=$(cut -d' ' -f6,7 /proc/self/stat) me=$$\r")
m = expect(master, r"tty=(\S+) size=(\d+ \d+) stat=(\d+) (\d+) me=(\d+)", seen)
result["tty"], result["size"] = m.group(1), m.group(2)
result["sid"], result["tty_nr"], result["shell_pid"] = m.group(3), m.group(4), m.group(5)
# A window size change of the caller's terminal reaches the container's terminal.
set_size(slave, 40, 120)
os.write(master, b"echo resized=$(stty size)\r")
result["resized"] = expect(master, r"resized=(\d+ \d+)", seen).group(1)
os.write(master, b"echo $((6*7))x\r")
result["answer"] = expect(master, r"(\d+)x\r?\n", seen).group(1)
os.write(master, b"exit 3\r")
result["status"] = p.wait(timeout=15)
result["restored"] = termios.tcgetattr(slave) == before
os.close(master)
os.close(slave)

# 2. exec without -t, from the same kind of terminal: no controlling terminal inside.
p, master, slave, before = start(["exec", "-p", project, name, "--", "sh", "-c",
                                  "echo plain=$(cut -d' ' -f6,7 /proc/self/stat) me=$$ tty=$(tty)"])
seen = [""]
m = expect(master, r"plain=(\d+) (\d+) me=(\d+) tty=([^\r\n]*)", seen)
result["plain_sid"], result["plain_tty_nr"], result["plain_pid"], result["plain_tty"] = m.groups()
result["plain_status"] = p.wait(timeout=15)
os.close(master)
os.close(slave)

print(json.dumps(result))
