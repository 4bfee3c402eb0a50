"""bench_peers.py's Tsung contender: Tsung 1.7 (Debian's ``tsung``) on the same workload,
measured the same way.

Each Tsung user is one device of a pair in a direct chat (its token and conversation from a
CSV, as Tsung's ``file_server`` hands them out in order); it connects to ``/ws``, logs in,
then sends one message per think time (Tsung's random think time: exponential, its mean
the interval; its uniform one takes whole seconds only), each waiting for
the next frame from the server (Tsung's websocket ``ack``: its ``send_ack``, or a push
that came first). It acks no push and pings nothing: Tsung's own scenario language has no
way to answer a push it did not ask for, so it does less per message than the other two.

Measured from outside, over the same steady window as ``peers_meter.py`` (the first sixth
left out): the CPU of the Tsung VM (``beam.smp`` and its children, from ``/proc``) and the
messages the store numbered meanwhile (Redis's ``mid`` counter: one per stored message,
which the node acks). Tsung's Erlang VM runs on its own ``epmd`` port (``ERL_EPMD_PORT``)
so the ``epmd`` it starts is ours to stop; Tsung's web dashboard is off (``-n``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from imload.cluster.processes import free_ports
from imload.protocol import direct_conv, mint_token

TSUNG_DTD = "/usr/share/tsung/tsung-1.0.dtd"
DOES = ("send, wait for the next frame (its send_ack, or a push first); no push acks, no "
        "pings")


def devices_csv(run: str, pairs: int, secret: str) -> str:
    """``token;conv`` per device, pair by pair (Tsung's file_server, ``order="iter"``)."""
    rows = []
    for i in range(pairs):
        a, b = f"{run}t{i}a", f"{run}t{i}b"
        rows += [f"{mint_token(secret, me, 'd0')};{direct_conv(a, b)}" for me in (a, b)]
    return "\n".join(rows) + "\n"


def _message(text: str) -> str:
    """A request sending ``text`` (Tsung's dynamic variables substituted) as a text frame,
    then waiting for the next frame."""
    return (f'<request subst="true"><websocket type="message" frame="text">{text}'
            '</websocket></request>')


def tsung_config(url: str, devices: int, interval: float, seconds: float, csv: Path,
                 body: str) -> str:
    """The Tsung scenario: the devices arrive at ``devices`` a second (Tsung's arrivals are
    random: the phase lasts 5 s so that all of them come, about the first second) and send
    for ``seconds``."""
    parts = urlsplit(url)
    sends = int(seconds / interval) + 10  # outlasts the run: <load duration> stops it
    login = _message('{"t":"login","rid":0,"token":"%%_token%%"}')
    send = _message('{"t":"send","rid":%%_i%%,"cmid":"c%%_i%%","conv":"%%_conv%%","body":"'
                    + body + '"}')
    return f"""<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "{TSUNG_DTD}">
<tsung loglevel="error" version="1.0">
  <clients><client host="localhost" use_controller_vm="true" maxusers="{devices + 10}"/></clients>
  <servers><server host="{parts.hostname}" port="{parts.port}" type="tcp"/></servers>
  <load duration="{int(seconds)}" unit="second">
    <arrivalphase phase="1" duration="5" unit="second">
      <users maxnumber="{devices}" arrivalrate="{devices}" unit="second"/>
    </arrivalphase>
  </load>
  <options><option name="file_server" id="devices" value="{csv}"/></options>
  <sessions>
    <session name="device" probability="100" type="ts_websocket">
      <setdynvars sourcetype="file" fileid="devices" delimiter=";" order="iter">
        <var name="token"/><var name="conv"/>
      </setdynvars>
      <request><websocket type="connect" path="{parts.path or '/ws'}"></websocket></request>
      {login}
      <for from="1" to="{sends}" var="i">
        <thinktime value="{interval:g}" random="true"/>
        {send}
      </for>
    </session>
  </sessions>
</tsung>
"""


def _tree_cpu_s(root: int) -> float:
    """utime + stime of ``root`` and its descendants, in seconds (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        pid = int(entry.name)
        stats[pid] = fields
        children.setdefault(int(fields[1]), []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += (int(stats[pid][11]) + int(stats[pid][12])) / tick
        todo += children.get(pid, [])
    return total


def _mids(redis_url: str) -> int:
    import redis
    r = redis.Redis.from_url(redis_url)
    try:
        return int(r.get("mid") or 0)
    finally:
        r.close()


def run_tsung(url: str, secret: str, redis_url: str, run: str, pairs: int, interval: float,
              seconds: float, tmp: Path, body: str, busy_wait: bool = True) -> dict[str, Any]:
    """One measured Tsung run: ``{cpu_s, messages, window_s}`` like ``peers_meter.py``'s;
    ``busy_wait=False``: the Erlang VM's schedulers do not busy-wait (``+sbwt none``)."""
    if shutil.which("tsung") is None:
        raise FileNotFoundError("tsung is not installed (apt-get install tsung)")
    csv, config, logs = tmp / f"tsung-{run}.csv", tmp / f"tsung-{run}.xml", tmp / f"tsung-{run}"
    csv.write_text(devices_csv(run, pairs, secret))
    config.write_text(tsung_config(url, 2 * pairs, interval, seconds, csv, body))
    (epmd_port,) = free_ports("127.0.0.1", 1)
    env = {**os.environ, "ERL_EPMD_PORT": str(epmd_port), "HOME": str(tmp),
           **({} if busy_wait else {"ERL_FLAGS": "+sbwt none +sbwtdcpu none +sbwtdio none"})}
    with open(tmp / f"tsung-{run}.log", "w") as log:
        proc = subprocess.Popen(["tsung", "-n", "-f", str(config), "-l", str(logs), "start"],
                                env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        time.sleep(seconds / 6)
        c0, m0, t0 = _tree_cpu_s(proc.pid), _mids(redis_url), time.monotonic()
        time.sleep(seconds * 2 / 3)
        c1, m1, t1 = _tree_cpu_s(proc.pid), _mids(redis_url), time.monotonic()
        proc.wait(timeout=seconds + 60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        subprocess.run(["epmd", "-port", str(epmd_port), "-kill"], env=env,
                       capture_output=True, timeout=10)
    return {"cpu_s": c1 - c0, "messages": m1 - m0, "window_s": t1 - t0}
