#!/usr/bin/env bash
# check-template.sh IMAGE.qcow2
#
# Boots the template on a throw-away qcow2 overlay the way Paddock runs VMs
# (q35, TCG, virtio-blk, serial + QMP + VNC on unix sockets, full sandbox) and
# checks, each with a deadline:
#   1. the banner "paddock-template ready" reaches the serial log (boot time);
#   2. a command typed into the serial shell runs (echo sum=$((6*7)) -> sum=42);
#   3. the VGA console shows a shell: the banner is read back from VGA text
#      memory, and a QMP screendump is kept at /tmp/template-vga.png;
#   4. QMP system_powerdown (ACPI power button) makes the guest power off:
#      QEMU reports SHUTDOWN, then STOP (-no-shutdown), then we send quit.
# Exits non-zero with a message on the first failure. Needs qemu-system-x86,
# qemu-utils and python3.
set -euo pipefail

die() { echo "check-template: FAIL: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 IMAGE.qcow2"
IMAGE=$(realpath -- "$1") || die "no such image: $1"
[[ -f $IMAGE ]] || die "no such image: $1"
BOOT_DEADLINE=${BOOT_DEADLINE:-60}      # seconds; the goal is < 20 s
SHUTDOWN_DEADLINE=${SHUTDOWN_DEADLINE:-30}
VGA_COPY=${VGA_COPY:-/tmp/template-vga.png}
SERIAL_COPY=${SERIAL_COPY:-/tmp/template-serial.log}

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not installed"
command -v qemu-img >/dev/null || die "qemu-img not installed"
command -v python3 >/dev/null || die "python3 not installed"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/paddock-check.XXXXXX")
QEMU_PID=
cleanup() {
    # Only our own QEMU, by pid; wait so it is reaped (no zombie left behind).
    if [[ -n $QEMU_PID ]] && kill -0 "$QEMU_PID" 2>/dev/null; then
        kill "$QEMU_PID" 2>/dev/null || true
        wait "$QEMU_PID" 2>/dev/null || true
    fi
    rm -rf -- "$DIR"
}
trap cleanup EXIT

# A linked clone, as the product does: the template itself stays untouched.
qemu-img create -q -f qcow2 -b "$IMAGE" -F qcow2 "$DIR/overlay.qcow2"

# stdout/stderr to files and stdin from /dev/null: QEMU must never hold the
# caller's pipes open.
qemu-system-x86_64 \
    -machine pc-q35-7.2 -accel tcg -cpu max -m 256 -smp 1,maxcpus=4 \
    -nodefaults -no-user-config -display none -vga none -device VGA -no-shutdown \
    -blockdev driver=file,node-name=f0,filename="$DIR/overlay.qcow2" \
    -blockdev driver=qcow2,node-name=disk0,file=f0 \
    -device virtio-blk-pci,drive=disk0,bootindex=1 \
    -chardev socket,id=ser0,path="$DIR/serial.sock",server=on,wait=off,logfile="$DIR/serial.log" \
    -serial chardev:ser0 \
    -chardev socket,id=qmp,path="$DIR/qmp.sock",server=on,wait=off \
    -mon chardev=qmp,mode=control \
    -vnc unix:"$DIR/vnc.sock" \
    -device virtio-balloon-pci \
    -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny \
    </dev/null >"$DIR/qemu.out" 2>"$DIR/qemu.err" &
QEMU_PID=$!

status=0
python3 - "$DIR" "$QEMU_PID" "$BOOT_DEADLINE" "$SHUTDOWN_DEADLINE" "$VGA_COPY" <<'PY' || status=$?
import json, os, re, shutil, socket, sys, threading, time

DIR, PID = sys.argv[1], int(sys.argv[2])
BOOT_DEADLINE, SHUTDOWN_DEADLINE = float(sys.argv[3]), float(sys.argv[4])
VGA_COPY = sys.argv[5]
BANNER = b"paddock-template ready"
T0 = time.monotonic()

def fail(msg):
    print(f"check-template: FAIL: {msg}", file=sys.stderr)
    for name in ("qemu.err", "serial.log"):
        p = os.path.join(DIR, name)
        if os.path.exists(p):
            tail = open(p, "rb").read()[-1500:].decode("utf-8", "replace")
            print(f"--- last of {name} ---\n{tail}", file=sys.stderr)
    sys.exit(1)

def qemu_alive():
    # A zombie still answers kill(pid, 0): look at the state field instead.
    try:
        with open(f"/proc/{PID}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False

def serial_log():
    try:
        return open(os.path.join(DIR, "serial.log"), "rb").read()
    except FileNotFoundError:
        return b""

def wait_for(pred, deadline, what):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if pred():
            return
        if not qemu_alive():
            fail(f"QEMU exited while waiting for {what}")
        time.sleep(0.1)
    fail(f"timed out after {deadline:.0f} s waiting for {what}")

def connect(name):
    path = os.path.join(DIR, name)
    wait_for(lambda: os.path.exists(path), 10, f"socket {name}")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s

class Qmp:
    """Minimal QMP client: one JSON object per line; events are collected."""
    def __init__(self):
        self.sock = connect("qmp.sock")
        self.buf, self.events, self.next_id = b"", [], 0
        greeting = self._read(10)
        if greeting is None or "QMP" not in greeting:
            fail(f"no QMP greeting: {greeting}")
        self.cmd("qmp_capabilities")

    def _read(self, timeout):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise EOFError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, timeout=10, **args):
        self.next_id += 1
        msg = {"execute": name, "id": self.next_id}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\r\n")
        end = time.monotonic() + timeout
        while True:
            obj = self._read(max(0.0, end - time.monotonic()))
            if obj is None:
                fail(f"no reply to QMP {name}")
            if "event" in obj:
                self.events.append(obj)
            elif obj.get("id") == self.next_id:
                if "error" in obj:
                    fail(f"QMP {name}: {obj['error']}")
                return obj.get("return")

    def wait_event(self, name, timeout):
        end = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i)
            obj = self._read(max(0.0, end - time.monotonic()))
            if obj is None:
                return None
            if "event" in obj:
                self.events.append(obj)

qmp = Qmp()

# 1. Boot: the serial shell prints the banner from /etc/profile when it starts.
wait_for(lambda: BANNER in serial_log(), BOOT_DEADLINE, "the banner on the serial console")
boot_s = time.monotonic() - T0
print(f"check-template: boot to serial shell banner: {boot_s:.1f} s")

# 2. A command through the serial socket. The typed text contains "$((6*7))",
#    only the shell's output contains "sum=42".
ser = connect("serial.sock")
# Keep reading the serial socket (the log file records everything anyway): a
# connected client that does not read stalls the guest's serial output after
# a few hundred bytes, because QEMU writes each byte as its own socket message.
def drain():
    try:
        while ser.recv(65536):
            pass
    except OSError:
        pass
threading.Thread(target=drain, daemon=True).start()
ser.sendall(b"echo sum=$((6*7)) > /dev/ttyS0\r")
wait_for(lambda: re.search(rb"(^|[\r\n])sum=42\r?\n", serial_log()), 10,
         "the output of a command typed on the serial console")
print("check-template: serial shell ran a command (sum=42)")

# 3. VGA: the tty1 shell prints the same banner. Read VGA text memory
#    (0xb8000, char/attribute pairs; vgacon scrolls inside this 32 KiB window).
def vga_text():
    out = qmp.cmd("human-monitor-command", **{"command-line": "xp /16384hx 0xb8000"})
    # Lines look like "00000000000b8000: 0x0720 0x0720 ..."; keep the low bytes.
    return bytes(int(w, 16) & 0xFF for w in re.findall(r"\b0x([0-9a-f]{4})\b", out))
wait_for(lambda: BANNER in vga_text(), 15, "the banner on the VGA console (tty1)")
print("check-template: VGA console (tty1) shows the shell banner")
png = os.path.join(DIR, "vga.png")
qmp.cmd("screendump", filename=png, format="png")
wait_for(lambda: os.path.exists(png) and os.path.getsize(png) > 0, 10, "the screendump")
shutil.copyfile(png, VGA_COPY)
print(f"check-template: VGA screendump saved to {VGA_COPY}")

# 4. ACPI power button -> guest acpid -> poweroff -> SHUTDOWN (then STOP).
t1 = time.monotonic()
qmp.cmd("system_powerdown")
ev = qmp.wait_event("SHUTDOWN", SHUTDOWN_DEADLINE)
if ev is None:
    fail(f"no SHUTDOWN event within {SHUTDOWN_DEADLINE:.0f} s of system_powerdown")
off_s = time.monotonic() - t1
if not ev.get("data", {}).get("guest"):
    fail(f"SHUTDOWN was not guest-initiated: {ev}")
print(f"check-template: ACPI powerdown to SHUTDOWN event: {off_s:.2f} s")
if qmp.wait_event("STOP", 10) is None:
    fail("no STOP event after SHUTDOWN (-no-shutdown)")
try:
    qmp.cmd("quit")
except EOFError:
    pass
end = time.monotonic() + 10
while qemu_alive() and time.monotonic() < end:
    time.sleep(0.1)
if qemu_alive():
    fail("QEMU still running 10 s after quit")
print(f"check-template: OK (boot {boot_s:.1f} s, powerdown {off_s:.2f} s)")
PY

cp -f -- "$DIR/serial.log" "$SERIAL_COPY" 2>/dev/null || true   # for a post-mortem
if [[ $status -ne 0 ]]; then
    exit "$status"
fi
wait "$QEMU_PID" || true   # reap; the guest shut down and we sent quit
QEMU_PID=
