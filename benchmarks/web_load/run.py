"""Web load: many annotators and reviewers on a 100k-image project on PostgreSQL, with a round training.

Setup (once): a PostgreSQL database of its own (``--database``, dropped and recreated), a temp
DATA_DIR and an embedded redis-server; one project with ``--images`` Image rows (file names only: the
endpoints timed here never read image files), a few human labels, a current model version with one
prediction per image, the label-queue order of that version, and the worker's image cache file
(Fashion-MNIST pixels, so the round really trains and predicts on 100k images).

Then the real servers: the app's web server on loopback (``--web app``: uvicorn with ``--web-processes``
processes, :mod:`labelapp.web_server`; ``--web daphne``: one daphne process, as before issue 17), and for
each ``--workers`` variant in turn a real RQ worker process (``yielding``: the app's
``labelapp.training.worker.TrainingWorker``, niced, ``--worker-threads`` torch threads; ``plain``:
``rq.SimpleWorker`` at the web's priority, every core) with the project's
continuous training on (``training_start``: each round trains ``--round-seconds``, predicts every
image, writes 100k predictions, flips the version and enqueues the next round), while an asyncio
HTTP/1.1 client plays the people (everyone logs in once, then ``--repeats`` repeats of):

- ``--annotators`` users, each logged in through the login form (session cookie + CSRF), looping
  ``--cycles`` times: POST label/next/ → POST label/submit/ (a class), ``--think`` seconds apart;
- ``--reviewers`` users loading the review grid page (GET review/?class=k) ``--pages`` times each.

Bounded: a fixed count of requests, each repeat stopped after ``--max-seconds``; loopback only.
Reported: p50/p95/p99 and error counts per operation, per repeat, and their medians over repeats.

    .venv/bin/python benchmarks/web_load/run.py          # the RESULTS.md run (3 repeats)
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import hashlib
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.label_efficiency import app_env  # noqa: E402
from benchmarks.records import run_header  # noqa: E402

PASSWORD = "bench-password-1"
OPERATIONS = ("login", "next", "submit", "review_page")
STOP_WAIT_SECONDS = 300  # a round at 100k images on this CPU: about a minute


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--labeled", type=int, default=500, help="human labels present before the load")
    parser.add_argument("--annotators", type=int, default=16)
    parser.add_argument("--reviewers", type=int, default=4)
    parser.add_argument("--cycles", type=int, default=40, help="next → submit cycles per annotator per repeat")
    parser.add_argument("--pages", type=int, default=20, help="review pages per reviewer per repeat")
    parser.add_argument("--think", type=float, default=0.5, help="seconds a person waits between two requests")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--round-seconds", type=int, default=20,
                        help="training budget of each round while continuous training runs (0: no worker)")
    parser.add_argument("--worker-threads", type=int, default=1,
                        help="torch threads of the worker (1: fastest on a shared, oversubscribed CPU)")
    parser.add_argument("--workers", default="yielding",
                        help="comma-separated worker variants, each run in turn against the same servers and data: "
                             "'yielding' (the app's TrainingWorker: nice TRAINING_NICE, --worker-threads torch threads) "
                             "and 'plain' (rq.SimpleWorker at the web's priority, as before issue 17)")
    parser.add_argument("--web", choices=("app", "daphne"), default="app",
                        help="'app': the app's server (uvicorn, --web-processes); 'daphne': one daphne process")
    parser.add_argument("--web-processes", type=int, default=0, help="uvicorn processes (0: WEB_PROCESSES or one per core)")
    parser.add_argument("--max-seconds", type=float, default=240.0, help="stop a repeat's load after this long")
    parser.add_argument("--request-timeout", type=float, default=60.0)
    parser.add_argument("--port", type=int, default=0, help="the web server's loopback port (0: a free one)")
    parser.add_argument("--database", default="bench_web")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "web_load.json")
    return parser.parse_args(argv)


# ---- database and data --------------------------------------------------------------------------


def database(server: str, name: str, *, create: bool) -> None:
    """Drop the benchmark's own database, and create it again when ``create``."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            connection.execute(f'CREATE DATABASE "{name}"')


def populate(args: argparse.Namespace) -> dict:
    """Users, the project, ``--images`` image rows, labels, a current version with predictions, the queue
    order and the worker's image cache. Returns the names the client needs."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from labelapp.images.models import Image
    from labelapp.labeling.models import Annotation, Source
    from labelapp.labeling.services import queue_order_build
    from labelapp.projects.models import Membership, Project, Role
    from labelapp.projects.services import default_class_specs, project_create
    from labelapp.training.cache import atomic_savez, cache_path
    from labelapp.training.models import ModelVersion, Prediction
    from sslengine.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist

    started = time.perf_counter()
    User = get_user_model()
    hashed = make_password(PASSWORD)  # one hash for everyone: hashing per user costs ~0.5 s of CPU each
    names = {"annotators": [f"annotator{i}" for i in range(args.annotators)],
             "reviewers": [f"reviewer{i}" for i in range(args.reviewers)]}
    users = User.objects.bulk_create([User(username=n, password=hashed) for n in ["owner", *names["annotators"], *names["reviewers"]]])
    owner = users[0]
    project = project_create(name="Load", slug="load", classes=default_class_specs(FASHION_MNIST_CLASSES), owner=owner,
                             image_size=28, grayscale=True, algorithm="fixmatch", backbone="cnn-small",
                             round_seconds=max(1, args.round_seconds))
    roles = [Role.ANNOTATOR] * args.annotators + [Role.REVIEWER] * args.reviewers
    Membership.objects.bulk_create(Membership(project=project, user=u, role=r) for u, r in zip(users[1:], roles))
    Image.objects.bulk_create(
        (Image(project=project, file=f"images/{project.pk}/bench/{i}.png", original_name=f"{i}.png",
               sha256=hashlib.sha256(str(i).encode()).hexdigest(), format="PNG", width=28, height=28)
         for i in range(args.images)),
        batch_size=5000,
    )
    ids = np.array(Image.objects.filter(project=project).order_by("id").values_list("id", flat=True), dtype=np.int64)
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    pixels = np.concatenate([train.images.numpy(), test.images.numpy()])
    truth = np.concatenate([train.labels.numpy(), test.labels.numpy()])
    rows = np.arange(args.images) % len(pixels)
    atomic_savez(cache_path(project), ids=ids, images=np.ascontiguousarray(pixels[rows]))
    classes = {c.index: c for c in project.classes.all()}
    rng = np.random.default_rng(0)
    labeled = rng.choice(args.images, size=min(args.labeled, args.images), replace=False)
    Annotation.objects.bulk_create(
        Annotation(project=project, image_id=int(ids[i]), label_class=classes[int(truth[rows[i]])], source=Source.HUMAN, annotator=owner)
        for i in labeled
    )
    version = ModelVersion.objects.create(project=project, number=1, algorithm="fixmatch", backbone="cnn-small",
                                          checkpoint=f"{project.pk}/v1.pt", images=args.images)
    logits = rng.normal(size=(args.images, 10)) * rng.uniform(0.5, 6.0, size=(args.images, 1))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    top2 = np.sort(probs, 1)[:, -2:]
    entropy = -(probs * np.log(probs + 1e-12)).sum(1)
    Prediction.objects.bulk_create(
        (Prediction(version=version, image_id=int(ids[i]), predicted_index=int(probs[i].argmax()), confidence=float(top2[i, 1]),
                    margin=float(top2[i, 1] - top2[i, 0]), entropy=float(entropy[i]), probs=np.round(probs[i], 4).tolist())
         for i in range(args.images)),
        batch_size=5000,
    )
    Project.objects.filter(pk=project.pk).update(current_version=version)
    project.refresh_from_db()
    queue_order_build(project=project)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "slug": project.slug,
        "project_id": project.pk,
        "users": names,
        "confident_predictions": int((top2[:, 1] >= project.threshold).sum()),
        "seconds": round(time.perf_counter() - started, 1),
    }


# ---- the servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


def web_server_command(args: argparse.Namespace, port: int) -> list[str]:
    """The app's server (:func:`labelapp.web_server.web_command`), or one daphne process (before issue 17)."""
    from labelapp.web_server import web_command, web_processes

    if args.web == "daphne":
        return [str(Path(sys.executable).with_name("daphne")), "-b", "127.0.0.1", "-p", str(port), "labelapp.asgi:application"]
    return web_command(host="127.0.0.1", port=port, processes=args.web_processes or web_processes())


def start_web(command: list[str], port: int, log: Path) -> subprocess.Popen:
    from labelapp.web_server import web_environment

    process = subprocess.Popen(command, cwd=ROOT, env=web_environment(server_env()), stdout=log.open("ab"),
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180  # uvicorn's processes each import the app: slow on a loaded machine
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"the web server exited with {process.returncode}; see {log}") from None
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the web server did not listen within 180 s")


WORKER_VARIANTS = ("yielding", "plain")


def start_worker(project_id: int, log: Path, threads: int, variant: str) -> subprocess.Popen:
    """Switch continuous training on (the first round is enqueued now, each round enqueues the next)
    and start a real, long-lived worker process on the training queue: the app's yielding
    ``TrainingWorker`` (nice, ``threads`` torch threads) or, for comparison, a plain ``rq.SimpleWorker``
    at the web's priority with torch's default thread count (every core)."""
    from labelapp.projects.models import Project
    from labelapp.training.services import training_start
    from labelapp.training.worker import WORKER_CLASS

    training_start(project=Project.objects.get(pk=project_id))  # enqueues on commit: autocommit here
    worker_class = WORKER_CLASS if variant == "yielding" else "rq.SimpleWorker"
    command = [sys.executable, "manage.py", "rqworker", "training", "--worker-class", worker_class]
    env = server_env() | ({"TRAINING_TORCH_THREADS": str(threads)} if variant == "yielding" else {})
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def stop_worker(project_id: int, worker: subprocess.Popen) -> None:
    from labelapp.projects.models import Project
    from labelapp.training.services import training_stop

    training_stop(project=Project.objects.get(pk=project_id))
    # Warm shutdown: the round in progress finishes and publishes first. A worker killed mid-round would
    # leave its round lock in Redis until it expires, and the next variant's first round would not be queued.
    worker.terminate()
    try:
        worker.wait(timeout=STOP_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


# ---- the client ---------------------------------------------------------------------------------


class HttpError(Exception):
    pass


@dataclass
class Browser:
    """One person's keep-alive HTTP/1.1 connection with a cookie jar (enough for Django's session and CSRF)."""

    port: int
    timeout: float
    cookies: dict[str, str] = field(default_factory=dict)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    retries: int = 0

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        """One request; a GET on a kept-alive connection that the server had closed is sent once more on a
        new connection, as browsers do (counted in ``retries``)."""
        reused = self.writer is not None
        try:
            return await asyncio.wait_for(self._request(method, path, body, headers or {}), self.timeout)
        except (HttpError, ConnectionError):
            if not (reused and method == "GET"):
                raise
            self.retries += 1
            self.writer = None
            return await asyncio.wait_for(self._request(method, path, body, headers or {}), self.timeout)

    async def _request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", f"Content-Length: {len(body)}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            self.writer = None
            raise HttpError("connection closed")
        status = int(status_line.split()[1])
        response_headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0]
            response_headers[name] = value
        if response_headers.get("transfer-encoding") == "chunked":
            data = b""
            while (size := int((await self.reader.readline()).strip(), 16)) > 0:
                data += await self.reader.readexactly(size)
                await self.reader.readline()
            await self.reader.readline()
        else:
            data = await self.reader.readexactly(int(response_headers.get("content-length", 0)))
        if response_headers.get("connection", "").lower() == "close":
            self.writer.close()
            self.writer = None
        return status, response_headers, data

    def csrf_headers(self, referer: str) -> dict[str, str]:
        return {"X-CSRFToken": self.cookies.get("csrftoken", ""), "Referer": f"http://127.0.0.1:{self.port}{referer}"}

    async def login(self, username: str) -> None:
        _, _, page = await self.request("GET", "/accounts/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        form = urlencode({"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1).decode() if token else ""})
        status, _, _ = await self.request("POST", "/accounts/login/", form.encode(), {
            "Content-Type": "application/x-www-form-urlencoded", **self.csrf_headers("/accounts/login/")})
        if status != 302 or "sessionid" not in self.cookies:
            raise HttpError(f"login of {username} answered {status}")

    async def post_json(self, path: str, payload: dict) -> tuple[int, dict]:
        status, _, data = await self.request("POST", path, json.dumps(payload).encode(), {
            "Content-Type": "application/json", **self.csrf_headers(path)})
        return status, (json.loads(data) if data.startswith(b"{") else {})

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Recorder:
    """Latencies (ms) and errors per operation."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPERATIONS})
    starts: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPERATIONS})  # wall clock
    errors: dict[str, int] = field(default_factory=lambda: {op: 0 for op in OPERATIONS})
    samples: dict[str, list[str]] = field(default_factory=dict)

    async def timed(self, op: str, call, ok=lambda result: True):
        started, wall = time.perf_counter(), time.time()
        try:
            result = await call
        except (TimeoutError, HttpError, OSError, asyncio.IncompleteReadError, ValueError) as error:
            self._error(op, f"{type(error).__name__}: {error}")
            return None
        self.latencies[op].append(1000 * (time.perf_counter() - started))
        self.starts[op].append(wall)
        if not ok(result):
            self._error(op, str(result)[:200])
            return None
        return result

    def _error(self, op: str, text: str) -> None:
        self.errors[op] += 1
        self.samples.setdefault(op, [])
        if len(self.samples[op]) < 3:
            self.samples[op].append(text)

    def summary(self) -> dict:
        out = {}
        for op in OPERATIONS:
            values = self.latencies[op]
            q = np.percentile(values, [50, 95, 99]).round(1).tolist() if values else [None] * 3
            out[op] = {"count": len(values), "errors": self.errors[op], "p50_ms": q[0], "p95_ms": q[1], "p99_ms": q[2]}
        return out

    def by_group(self, group_at) -> dict:
        """Count and p50/p95 per group of requests (``group_at``: a request's start, wall clock → its group, e.g.
        the worker phase sampled last before it): where the tail is."""
        out: dict[str, dict] = {}
        for op in OPERATIONS:
            grouped: dict[str, list[float]] = {}
            for wall, latency in zip(self.starts[op], self.latencies[op]):
                grouped.setdefault(group_at(wall), []).append(latency)
            for group, values in grouped.items():
                p50, p95 = np.percentile(values, [50, 95]).round(1).tolist()
                out.setdefault(group, {})[op] = {"count": len(values), "p50_ms": p50, "p95_ms": p95}
        return out


async def annotator(browser: Browser, slug: str, cycles: int, think: float, rec: Recorder, rng: random.Random, deadline: float) -> None:
    base = f"/p/{slug}/label/"
    for _ in range(cycles):
        if time.monotonic() > deadline:
            return
        answer = await rec.timed("next", browser.post_json(base + "next/", {"queue": "label", "held": []}),
                                 ok=lambda r: r[0] == 200 and r[1].get("image"))
        await asyncio.sleep(think * rng.uniform(0.5, 1.5))
        if answer is None:
            continue
        image = answer[1]["image"]
        await rec.timed("submit", browser.post_json(base + "submit/", {
            "image": image["id"], "class_index": rng.randrange(10), "expected_revision": image["expected_revision"]}),
            ok=lambda r: r[0] == 200)
        await asyncio.sleep(think * rng.uniform(0.5, 1.5))


async def reviewer(browser: Browser, slug: str, pages: int, think: float, rec: Recorder, rng: random.Random, deadline: float) -> None:
    for page in range(pages):
        if time.monotonic() > deadline:
            return
        await rec.timed("review_page", browser.request("GET", f"/p/{slug}/review/?class={page % 10}"), ok=lambda r: r[0] == 200)
        await asyncio.sleep(2 * think * rng.uniform(0.5, 1.5))


async def load(args: argparse.Namespace, port: int, names: dict, slug: str, seed: int, browsers: dict[str, Browser]) -> tuple[Recorder, dict]:
    """One repeat: every person works through their fixed count at once (stopped at ``--max-seconds``)."""
    rec = Recorder()
    people = [(n, annotator) for n in names["annotators"]] + [(n, reviewer) for n in names["reviewers"]]
    started, wall = time.monotonic(), time.time()
    deadline = started + args.max_seconds
    rng = random.Random(seed)
    tasks = []
    for name, role in people:
        count = args.cycles if role is annotator else args.pages
        tasks.append(role(browsers[name], slug, count, args.think, rec, random.Random(rng.random()), deadline))
    await asyncio.gather(*tasks)
    window = {"started": wall, "ended": time.time(), "load_seconds": round(time.monotonic() - started, 1),
              "stopped_by_deadline": time.monotonic() > deadline}
    return rec, window


def worker_phase(project_id: int) -> tuple[str, int]:
    """What the training worker is doing now, from its last event (Redis) and the versions (database):
    (phase, current version number)."""
    from labelapp.projects.models import Project
    from labelapp.training import store
    from labelapp.training.models import ModelVersion

    event = store.progress_get(project_id) or {}
    current = Project.objects.filter(pk=project_id).values_list("current_version__number", flat=True).first() or 0
    latest = ModelVersion.objects.filter(project_id=project_id).order_by("-number").values_list("number", flat=True).first() or 0
    kind = event.get("type")
    if latest > current:
        phase = "writing predictions"
    elif kind == "round.started" or (kind == "round.progress" and event.get("fraction", 0) < 0.97):
        phase = "training"
    elif kind == "round.progress":
        phase = "predicting"
    elif kind == "version.ready":
        phase = "between rounds"
    else:
        phase = "worker starting"
    return phase, current


class PhaseLog:
    """Samples the worker's phase every ``every`` seconds while the load runs."""

    def __init__(self, project_id: int, every: float = 1.0) -> None:
        self.project_id, self.every, self.samples = project_id, every, []
        self.running = True

    async def run(self) -> None:
        while self.running:
            phase, version = await asyncio.to_thread(worker_phase, self.project_id)
            self.samples.append((time.time(), phase, version))
            await asyncio.sleep(self.every)

    async def wait_for(self, phase: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.samples and self.samples[-1][1] == phase:
                return True
            await asyncio.sleep(self.every)
        return False

    def phase_at(self, wall: float) -> str:
        """The phase sampled last at or before ``wall`` (time.time())."""
        index = bisect.bisect_right([t for t, _, _ in self.samples], wall) - 1
        return self.samples[index][1] if index >= 0 else "unknown"

    def window(self, started: float, ended: float) -> dict:
        inside = [(phase, version) for t, phase, version in self.samples if started <= t <= ended]
        shares = {phase: round(sum(1 for p, _ in inside if p == phase) / len(inside), 2) for phase, _ in inside} if inside else {}
        versions = sorted({version for _, version in inside})
        return {"worker_phase_shares": shares, "versions_current_during_load": versions}


async def sessions(args: argparse.Namespace, port: int, names: dict, slug: str, project_id: int, on_repeat) -> list[tuple[Recorder, dict]]:
    """Log everyone in through the login form (one after another, as people arrive), wait until the worker
    trains, then run the repeats back to back while it keeps training, predicting and writing."""
    everyone = names["annotators"] + names["reviewers"]
    browsers = {n: Browser(port, args.request_timeout) for n in everyone}
    phases = PhaseLog(project_id)
    sampler = asyncio.create_task(phases.run())
    logins = Recorder()
    for name in everyone:
        await logins.timed("login", browsers[name].login(name))
    if args.round_seconds:
        await phases.wait_for("training", timeout=300)
    results = []
    for repeat in range(args.repeats):
        before = sum(b.retries for b in browsers.values())
        rec, window = await load(args, port, names, slug, repeat, browsers)
        window.update(phases.window(window["started"], window["ended"]))
        window["by_worker_phase"] = rec.by_group(phases.phase_at)
        # everyone's first request leaves at the same instant: how much of the tail is that start burst
        window["by_start"] = rec.by_group(lambda wall, t0=window["started"]: "first 2 s" if wall < t0 + 2 else "after 2 s")
        window["get_retries_on_stale_connection"] = sum(b.retries for b in browsers.values()) - before
        rec.latencies["login"], rec.errors["login"] = (logins.latencies["login"], logins.errors["login"]) if repeat == 0 else ([], 0)
        results.append((rec, window))
        await asyncio.to_thread(on_repeat, repeat, rec, window)  # it reads the database: not on the event loop
    phases.running = False
    await sampler
    for browser in browsers.values():
        browser.close()
    return results


# ---- the run ------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    url = f"{args.server}/{args.database}"
    database(args.server, args.database, create=True)
    try:
        return _run(args, url)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_database:
            database(args.server, args.database, create=False)


def _run(args: argparse.Namespace, url: str) -> dict:
    data_dir = app_env.start_app(prefix="bench-web-load-", database_url=url)

    variants = [v.strip() for v in args.workers.split(",") if v.strip()]
    if not variants or any(v not in WORKER_VARIANTS for v in variants):
        raise SystemExit(f"--workers: a comma-separated list of {WORKER_VARIANTS}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    port = args.port or free_port()
    command = web_server_command(args, port)
    record = {
        **run_header("web_load", "benchmarks/web_load/run.py", args),
        "machine": app_env.machine(),
        "servers": f"web: {' '.join(Path(c).name if n == 0 else c for n, c in enumerate(command))} on loopback; "
                   "PostgreSQL; embedded redis-server; one rq worker process per variant, continuous training",
        "variants": {},
    }
    print("populating…", flush=True)
    data = populate(args)
    record["data"] = data
    print(f"populated in {data['seconds']} s", flush=True)
    web = start_web(command, port, data_dir / "web.log")
    try:
        for variant in variants:  # one after another against the same servers and data, so they compare
            record["variants"][variant] = run_variant(args, port, data, data_dir, variant, record)
    finally:
        web.terminate()
        web.wait(timeout=30)
        record["web_log_tail"] = (data_dir / "web.log").read_text(errors="replace")[-3000:]
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    return record


def run_variant(args: argparse.Namespace, port: int, data: dict, data_dir: Path, variant: str, record: dict) -> dict:
    """The repeats with one worker variant training (or none with ``--round-seconds 0``)."""
    result: dict = {"load_average_at_start": [round(x, 2) for x in os.getloadavg()], "repeats": []}
    record["variants"][variant] = result
    print(f"worker variant {variant!r}", flush=True)
    worker = (start_worker(data["project_id"], data_dir / f"worker-{variant}.log", args.worker_threads, variant)
              if args.round_seconds else None)
    seen: dict[int, dict] = {}

    def on_repeat(repeat: int, rec: Recorder, window: dict) -> None:
        row = {"repeat": repeat, "load_average": [round(x, 2) for x in os.getloadavg()], **window,
               "operations": rec.summary(), "error_samples": rec.samples}
        result["repeats"].append(row)
        seen.update({r["version"]: r for r in rounds(data["project_id"], result["repeats"])})
        print(json.dumps(row), flush=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")

    try:
        asyncio.run(sessions(args, port, data["users"], data["slug"], data["project_id"], on_repeat))
    finally:
        if worker is not None:
            stop_worker(data["project_id"], worker)
    seen.update({r["version"]: r for r in rounds(data["project_id"], result["repeats"])})
    result["rounds"] = [seen[n] for n in sorted(seen)]
    result["median"] = medians(result["repeats"])
    return result


def rounds(project_id: int, repeats: list[dict]) -> list[dict]:
    """The training rounds finished so far that are still stored (a round prunes versions older than the
    one before it), with when each was created and how long each phase took."""
    from labelapp.training.models import ModelVersion

    out = []
    for version in ModelVersion.objects.filter(project_id=project_id, number__gt=1).order_by("number"):
        created = version.created_at.timestamp()
        during = [r["repeat"] for r in repeats if r["started"] <= created <= r["ended"]]
        out.append({"version": version.number, "created": created, "created_during_repeats": during,
                    "timings": version.timings, "round_steps": version.round_steps})
    return out


def medians(repeats: list[dict]) -> dict:
    """Per operation: medians over repeats of each percentile, and total counts and errors."""
    out = {}
    for op in OPERATIONS:
        rows = [r["operations"][op] for r in repeats]
        out[op] = {
            "count": sum(r["count"] for r in rows),
            "errors": sum(r["errors"] for r in rows),
            **{q: (statistics.median([r[q] for r in rows if r[q] is not None]) if any(r[q] is not None for r in rows) else None)
               for q in ("p50_ms", "p95_ms", "p99_ms")},
        }
    return out


def table(record: dict) -> str:
    lines = ["| worker | operation | requests | errors | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|---|---|"]
    for variant, result in record["variants"].items():
        for op, m in result["median"].items():
            lines.append(f"| {variant} | {op} | {m['count']} | {m['errors']} | {m['p50_ms']} | {m['p95_ms']} | {m['p99_ms']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    record = run(args)
    print(table(record))


if __name__ == "__main__":
    main()
