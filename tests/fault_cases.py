"""Fault cases on the index, shared by the tests (bounded counts) and ``benchmarks/reliability.py``.

Every case returns an :class:`Outcome`: did something crash (an unexpected exception, a
traceback, a child process dying other than by the planned kill), and is the index whole
(it loads, and holds exactly the old files or exactly the old files plus the new one).
Syncs here use the fake embedder of ``conftest.py``; a case that needs a separate process
runs this file as a script (see ``_child``). The cases that go through ``app.py`` (fuzzed
questions and uploads, the app killed mid-upload) are in ``app_cases.py``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "benchmarks")]

from conftest import FakeEmbedder  # noqa: E402
from rag.config import Config  # noqa: E402
from rag.errors import IndexFormatError, IndexWriteError, RagError  # noqa: E402
from rag.index import MANIFEST, Index, read_manifest  # noqa: E402
from rag.sync import sync_index  # noqa: E402

# A made-up issue: 青桐苑 and its 23 charging spaces appear nowhere in seeds/.
NEW_ISSUE = ("【宜居家园】\n\n青桐苑建成智能充电棚\n\n近日，青桐苑小区的智能充电棚正式投入使用，"
             "共设置了23个充电位，居民扫码即可为电动自行车充电。\n")
NEW_QUESTION = "青桐苑的充电棚有多少个充电位？"


@dataclass(frozen=True)
class Outcome:
    case: str
    crashed: bool = False
    index_ok: bool = True
    escaped: bool = True    # nothing the page shows could act as markup
    detail: str = ""


# ---- the index, seen from outside ----------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _tokenizer():
    from rag.tokenize import ChineseTokenizer
    return ChineseTokenizer()


def fake_sync(index_dir: Path, paths=(), **kw):
    """``sync_index`` with the fake embedder (fast, deterministic)."""
    emb = FakeEmbedder()
    kw.setdefault("tokenizer", _tokenizer())
    return sync_index(index_dir, paths, embedder=emb, config=Config(model=emb.name), **kw)


def indexed(index_dir: Path) -> dict[str, str]:
    """``{file name: sha256}`` of the issues in the index; loading it verifies every file."""
    return {name: e["sha256"] for name, e in Index.load(index_dir).manifest["files"].items()}


def live_files(index_dir: Path) -> list[Path]:
    """The manifest and every file of the generation it names."""
    gen = index_dir / f"gen-{read_manifest(index_dir)['generation']}"
    return [index_dir / MANIFEST, *sorted(p for p in gen.rglob("*") if p.is_file())]


def live_bytes(index_dir: Path) -> dict[str, bytes]:
    return {p.relative_to(index_dir).as_posix(): p.read_bytes() for p in live_files(index_dir)}


def leftovers(index_dir: Path) -> list[str]:
    """Folders a finished or failed build must not leave: a second generation, a build in progress."""
    gens = sorted(p.name for p in index_dir.glob("gen-*"))
    return [*gens[:-1], *(p.name for p in index_dir.glob(".building-*"))] if gens else []


def whole(index_dir: Path, allowed: list[dict[str, str]]) -> tuple[bool, str]:
    """(ok, why): the index loads and holds exactly one of the ``allowed`` file sets."""
    try:
        files = indexed(index_dir)
    except RagError as e:
        return False, f"does not load: {e}"
    if files not in allowed:
        return False, f"mixed index: {sorted(files)}"
    return True, ""


# ---- damaged index files -------------------------------------------------------------------

DAMAGE = ("truncate", "flip", "append")


def damage(path: Path, mode: str, rng: random.Random) -> None:
    """Truncate a file to half, invert a run of its bytes, or append junk to it."""
    data = path.read_bytes()
    if mode == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif mode == "flip":
        at = rng.randrange(max(len(data), 1))
        run = data[at:at + 8]
        path.write_bytes(data[:at] + bytes(b ^ rng.randrange(1, 256) for b in run) + data[at + 8:])
    else:
        path.write_bytes(data + b"\x00junk")


def corruption_case(template: Path, work: Path, rel: str, mode: str, rng: random.Random,
                    repair=fake_sync) -> Outcome:
    """Damage one file of a copy of ``template``: loading must name it, ``repair`` must fix it."""
    case = f"corrupt {rel} ({mode})"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(template, work)
    want = indexed(template)
    if not (work / rel).read_bytes() and mode != "append":
        mode = "append"   # an empty file can only be damaged by adding to it
    damage(work / rel, mode, rng)
    try:
        Index.load(work)
        return Outcome(case, index_ok=False, detail="damage not detected: the index loaded")
    except IndexFormatError as e:
        if Path(rel).name not in str(e):
            return Outcome(case, index_ok=False, detail=f"error does not name {rel}: {e}")
    except Exception as e:  # noqa: BLE001 - any other exception is the crash being counted
        return Outcome(case, crashed=True, detail=f"{type(e).__name__}: {e}")
    try:
        repair(work)
    except Exception as e:  # noqa: BLE001
        return Outcome(case, crashed=True, detail=f"repair failed: {type(e).__name__}: {e}")
    ok, why = whole(work, [want])
    return Outcome(case, index_ok=ok and not leftovers(work), detail=why or ", ".join(leftovers(work)))


# ---- a sync in a child process: killed at a chosen moment, or under a file size limit -------

def run_cases(kind: str, template: Path, work_root: Path, new: Path, values) -> list[dict]:
    """Run ``kind`` (kill or fsize) once per value, each on its own copy of ``template`` under
    ``work_root``: one child process loads everything once, then forks a sync per value.
    ``values=["all"]`` kills before every file operation (open for writing, rename, removal,
    faiss write) of the save in turn, or limits the file size to just below each index file's.
    Returns ``{"value", "work", "status" (exit code, or -signal), "err", "events"}`` per value."""
    work_root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(Path(__file__)), kind, str(template), str(work_root),
                          str(new), *map(str, values)], capture_output=True, text=True, timeout=600,
                         cwd=ROOT, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"case runner failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def crash_outcome(template: Path, new: Path, run: dict) -> Outcome:
    """A sync adding ``new`` was SIGKILLed before its save's n-th file operation: the index is
    the old or the new one, and the next sync finishes the job and clears the leftovers."""
    case, work = f"SIGKILL at save step {run['value']}", Path(run["work"])
    old, both = indexed(template), {**indexed(template), new.name: file_sha(new)}
    crashed = run["status"] not in (-signal.SIGKILL, 0)
    ok, why = whole(work, [old, both])
    try:
        fake_sync(work, [new])
        after_ok, after_why = whole(work, [both])
        ok, why = ok and after_ok and not leftovers(work), why or after_why or ", ".join(leftovers(work))
    except Exception as e:  # noqa: BLE001 - any exception here is the crash being counted
        crashed, why = True, f"next sync failed: {type(e).__name__}: {e}"
    return Outcome(case, crashed=crashed, index_ok=ok, detail=why or run["err"][-300:] * crashed)


def disk_full_outcome(template: Path, new: Path, run: dict) -> Outcome:
    """A sync adding ``new`` could write no file beyond ``run['value']`` bytes (``ulimit -f``):
    a clear error and the previous index byte for byte, or (if all fitted) the new index."""
    case, work = f"file size limit {run['value']} B", Path(run["work"])
    if run["status"] == 0:
        ok, why = whole(work, [{**indexed(template), new.name: file_sha(new)}])
        return Outcome(case, index_ok=ok and not leftovers(work), detail=why)
    clear = run["status"] == 2 and "could not write the new index" in run["err"]
    unchanged = live_bytes(work) == live_bytes(template) and not leftovers(work)
    return Outcome(case, crashed=not clear, index_ok=unchanged,
                   detail="" if clear and unchanged else run["err"][-400:])


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _arm(kill_at: int | None) -> list[int]:
    """Count (and optionally SIGKILL at) the file operations made inside ``Index.write``."""
    import builtins
    import faiss
    counter, inside = [0], [False]

    def watch(fn, writes=lambda *a, **k: True):
        def wrapped(*args, **kwargs):
            if inside[0] and writes(*args, **kwargs):
                counter[0] += 1
                if counter[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)
        return wrapped

    def writing(file, mode="r", *args, **kwargs):
        return any(c in mode for c in "wax+")

    builtins.open = watch(builtins.open, writing)
    io.open = watch(io.open, writing)
    for mod, name in [(os, "replace"), (os, "rename"), (os, "link"), (os, "fsync"), (shutil, "rmtree"),
                      (faiss, "write_index")]:
        setattr(mod, name, watch(getattr(mod, name)))
    write = Index.write

    def counted_write(*args, **kwargs):
        inside[0] = True
        try:
            return write(*args, **kwargs)
        finally:
            inside[0] = False
    Index.write = staticmethod(counted_write)
    return counter


def _one(kind: str, work: Path, new: Path, value: int, tokenizer) -> None:
    """In a forked child: sync ``new`` into ``work`` (killed, or size-limited); never returns."""
    import resource
    import traceback
    code, hard = 0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    try:
        counter = _arm(value if kind == "kill" else None)
        if kind == "fsize":   # the soft limit only, so that the report below can lift it again
            resource.setrlimit(resource.RLIMIT_FSIZE, (value, hard))
        fake_sync(work, [new], tokenizer=tokenizer)
        (work.parent / f"{work.name}.events").write_text(str(counter[0]))
    except IndexWriteError as e:
        code, err = 2, str(e)
    except BaseException:  # noqa: BLE001 - reported to the parent as a crash
        code, err = 3, traceback.format_exc()
    if code:
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
        (work.parent / f"{work.name}.err").write_text(err)
    os._exit(code)


def concurrent_writers_case(template: Path, work: Path, writers: int = 2) -> Outcome:
    """``writers`` processes each add their own new issue to a copy of ``template`` at once (all
    released together from a held lock): the index must end with every issue any of them added."""
    from rag.lock import writer_lock
    case = f"{writers} syncs at once"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(template, work / "index")
    want = dict(indexed(template))
    procs = []
    with writer_lock(work / "index"):
        for k in range(writers):
            new = work / f"w{k}" / f"10{k}_writer.txt"
            new.parent.mkdir(parents=True)
            new.write_text(NEW_ISSUE.replace("23", str(30 + k)), encoding="utf-8")
            want[new.name] = file_sha(new)
            err = open(work / f"w{k}.err", "w+")
            procs.append((subprocess.Popen([sys.executable, str(Path(__file__)), "sync", str(work / "index"),
                                            str(new)], cwd=ROOT, stderr=err, text=True), err))
        deadline = time.monotonic() + 300
        while not all("another sync" in (work / f"w{k}.err").read_text() for k in range(writers)):
            if time.monotonic() > deadline or any(p.poll() is not None for p, _ in procs):
                break
            time.sleep(0.1)
    codes = [p.wait(timeout=600) for p, _ in procs]
    for _, err in procs:
        err.close()
    ok, why = whole(work / "index", [want])
    return Outcome(case, crashed=any(codes), index_ok=ok, detail=why or str(codes))


def churn(index_dir: Path, source: Path, syncs: int) -> None:
    """Sync ``index_dir`` ``syncs`` times, adding and removing ``source/zz_churn.txt`` in turn."""
    extra = source / "zz_churn.txt"
    for i in range(syncs):
        if i % 2:
            extra.unlink()
        else:
            extra.write_text(NEW_ISSUE, encoding="utf-8")
        fake_sync(index_dir)


def _child(argv: list[str]) -> int:
    """``kill|fsize TEMPLATE WORK_ROOT NEW VALUE...|all`` (see :func:`run_cases`),
    ``churn INDEX SOURCE N`` (see :func:`churn`) or ``sync INDEX PATH...``."""
    if argv[0] == "churn":
        churn(Path(argv[1]), Path(argv[2]), int(argv[3]))
        return 0
    if argv[0] == "sync":   # one writer of concurrent_writers_case; its waiting message on stderr
        import logging
        logging.basicConfig(level=logging.WARNING)
        fake_sync(Path(argv[1]), [Path(p) for p in argv[2:]])
        return 0
    kind, template, root, new = argv[0], Path(argv[1]), Path(argv[2]), Path(argv[3])
    tokenizer = _tokenizer()
    tokenizer("预热")   # jieba loads (and writes its cache) now, before any fork or limit
    results, values = [], argv[4:]
    if values == ["all"]:   # every step of a save, or a limit just below each file's size
        if kind == "kill":
            values = range(1, _fork_one("count", template, root, new, 0, tokenizer)["events"] + 2)
        else:
            values = [10, *sorted({p.stat().st_size - 1 for p in live_files(template)} - {0, 9})]
    for value in map(int, values):
        results.append(_fork_one(kind, template, root, new, value, tokenizer))
    print(json.dumps(results))
    return 0


def _fork_one(kind: str, template: Path, root: Path, new: Path, value: int, tokenizer) -> dict:
    work = root / f"{kind}-{value}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(template, work)
    pid = os.fork()
    if pid == 0:
        _one(kind, work, new, value, tokenizer)
    status = os.waitpid(pid, 0)[1]
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    side = {ext: (root / f"{work.name}.{ext}") for ext in ("err", "events")}
    return {"value": value, "work": str(work), "status": code,
            "err": side["err"].read_text() if side["err"].exists() else "",
            "events": int(side["events"].read_text()) if side["events"].exists() else 0}


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
