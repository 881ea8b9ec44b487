"""A real mosquitto on loopback for the MQTT tests (installed by `make sysdeps`), and helpers."""

import asyncio
import getpass
import json
import shutil
import socket
import subprocess
import time

import pytest

from integrations.mqtt import MQTTConfig

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Broker:
    """mosquitto with a password file and on-disk persistence, restartable on the same port."""

    def __init__(self, root):
        if not shutil.which(MOSQUITTO):
            pytest.fail("mosquitto is not installed: run `make sysdeps`")
        self.root = root
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        subprocess.run(["mosquitto_passwd", "-b", "-c", str(root / "passwd"), "agent", "s3cret"], check=True)
        (root / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {root / 'passwd'}\n"
            f"persistence true\npersistence_location {root}/\nautosave_interval 1\n"
            f"user {getpass.getuser()}\n")  # as root, mosquitto would switch to a user that cannot read tmp
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.root / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def mqtt_config(broker, **kw):
    return MQTTConfig(host="127.0.0.1", port=broker.port, username="agent", password="s3cret", prefix="test/calls",
                      reconnect_min_s=0.05, reconnect_max_s=0.3, ack_timeout_s=0.5, **kw)


def recorded(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def wait_for(cond, timeout_s):
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
