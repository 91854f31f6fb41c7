"""docker-py 5.0.3 against our dockerd: what the CLI does not reach.
Run as: /usr/bin/python3 tests/py/dockerpy_cases.py CASE  (DOCKER_HOST, IMAGE set)
Exits 0 when the case holds; prints why not otherwise."""
import os
import sys
import time

import docker

IMAGE = os.environ.get("IMAGE", "busybox:latest")


def client():
    return docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto", timeout=60)


def case_version():
    c = client()
    v = c.version()
    assert v["ApiVersion"] == "1.44", v
    assert c.api._version == "1.44", c.api._version
    assert c.ping() is True


def case_pull_stream():
    api = client().api
    msgs = list(api.pull(os.environ["PULL_REF"], stream=True, decode=True))
    assert msgs, "no messages"
    assert all(isinstance(m, dict) for m in msgs), msgs
    assert any("Digest: sha256:" in m.get("status", "") for m in msgs), msgs


def case_run_remove():
    c = client()
    out = c.containers.run(IMAGE, ["echo", "hi"], remove=True, network_mode="none")
    assert out == b"hi\n", out
    assert c.containers.list(all=True) == [], c.containers.list(all=True)


def case_list_filters():
    c = client()
    a = c.containers.run(IMAGE, ["true"], detach=True, network_mode="none", name="pyexited")
    assert a.wait()["StatusCode"] == 0
    b = c.containers.run(IMAGE, ["sleep", "300"], detach=True, network_mode="none", name="pyrunning")
    try:
        # docker-py sends the legacy list form of filters
        names = [x["Names"][0] for x in c.api.containers(all=True, filters={"status": ["exited"]})]
        assert names == ["/pyexited"], names
        names = [x.name for x in c.containers.list()]
        assert names == ["pyrunning"], names
    finally:
        b.remove(force=True)
        a.remove()


def case_wait_and_logs():
    c = client()
    ctr = c.containers.run(IMAGE, ["sh", "-c", "echo out; echo err >&2; exit 7"], detach=True,
                           network_mode="none")
    r = ctr.wait()
    assert r["StatusCode"] == 7, r
    assert ctr.logs(stdout=True, stderr=False) == b"out\n", ctr.logs(stdout=True, stderr=False)
    assert ctr.logs(stdout=False, stderr=True) == b"err\n"
    ctr.reload()
    assert ctr.status == "exited", ctr.status
    assert ctr.attrs["State"]["ExitCode"] == 7
    ctr.remove()


def case_events():
    c = client()
    since = int(time.time())
    c.containers.run(IMAGE, ["true"], remove=True, network_mode="none")
    evs = list(c.api.events(since=since, until=int(time.time()) + 1, decode=True,
                            filters={"type": ["container"]}))
    actions = [e["Action"] for e in evs]
    for a in ("create", "start", "die", "destroy"):
        assert a in actions, actions
    assert all(e.get("Type") == "container" for e in evs)


def case_attach_socket():
    c = client()
    ctr = c.containers.create(IMAGE, ["cat"], stdin_open=True, network_mode="none")
    sock = c.api.attach_socket(ctr.id, params={"stdin": 1, "stdout": 1, "stream": 1})
    ctr.start()
    raw = sock._sock
    raw.sendall(b"ping\n")
    raw.shutdown(1)  # half-close: the container's stdin ends
    data = b""
    raw.settimeout(10)
    while True:
        d = raw.recv(4096)
        if not d:
            break
        data += d
    # stdcopy frame: stream 1, size 5
    assert data == b"\x01\x00\x00\x00\x00\x00\x00\x05ping\n", data
    assert ctr.wait()["StatusCode"] == 0
    ctr.remove()


def case_errors():
    c = client()
    try:
        c.containers.get("no-such-container")
        raise AssertionError("no error")
    except docker.errors.NotFound as e:
        assert "No such container: no-such-container" in str(e), str(e)
    try:
        c.images.get("no-such-image:1")
        raise AssertionError("no error")
    except docker.errors.ImageNotFound:
        pass


if __name__ == "__main__":
    fn = globals().get("case_" + sys.argv[1])
    if fn is None:
        print("no such case", sys.argv[1])
        sys.exit(2)
    try:
        fn()
    except AssertionError as e:
        print("assertion failed:", e)
        sys.exit(1)
