"""Runs a command on a pseudo-terminal, types the given input after a prompt appears, and
prints a JSON report {"output": ..., "code": ...}. Used by terminal_test.ts to act as a person
at a terminal."""
import json
import os
import pty
import select
import sys
import time

spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])

out = b""


def read_for(seconds):
    global out
    end = time.time() + seconds
    while time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            out += chunk


deadline = time.time() + 10
while spec["wait_for"].encode() not in out and time.time() < deadline:
    read_for(0.1)
for chunk in spec["type"]:
    os.write(fd, chunk.encode())
    time.sleep(0.05)
# Read until the child closes the terminal (EOF or EIO), not for a fixed time: the report then
# holds everything the command wrote, however slow the machine.
read_for(60)
_, status = os.waitpid(pid, 0)
print(json.dumps({"output": out.decode(errors="replace"), "code": os.waitstatus_to_exitcode(status)}))
