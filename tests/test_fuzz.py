"""Bad input, fuzzed: odd questions and broken uploads of every accepted type. For each: no
crash, a clear message, the index unchanged (or the file added whole), nothing shown unescaped."""

from __future__ import annotations

import random

import app
from rag import uploads
from conftest import FakeEmbedder
from app_cases import SAMPLES, fuzz_questions, fuzz_uploads, question_case, unsafe_markup, upload_case
from fault_cases import fake_sync, live_bytes
from rag.config import Config
from rag.service import Assistant


def test_fuzzed_questions_get_an_escaped_answer_or_message(assistant, seed_index_dir):
    before = live_bytes(seed_index_dir)
    questions = fuzz_questions(random.Random(7), 12)
    assert any(len(q) >= 1_000_000 for q in questions) and any("<script>" in q for q in questions)
    outcomes = [question_case(assistant, q) for q in questions]
    bad = [o for o in outcomes if o.crashed or not o.escaped]
    assert not bad, bad
    assert live_bytes(seed_index_dir) == before


def test_a_question_is_shown_as_typed_never_as_markup():
    shown = app.question_html('![x](http://198.51.100.7/x.png) <img src=x onerror="alert(1)">\n\n# 标题')
    assert not unsafe_markup(shown)
    assert shown.startswith('<div class="rag-question">') and "<br><br>" in shown
    assert "&#33;&#91;x&#93;&#40;http://198.51.100.7/x.png&#41;" in shown and "&#60;img" in shown
    assert unsafe_markup("![x](http://x/x.png)") and unsafe_markup('<div><img src="x"></div>')


def test_every_accepted_upload_type_has_fuzz_samples():
    assert set(uploads.ALLOWED_SUFFIXES) <= set(SAMPLES)


def test_fuzzed_uploads_are_refused_clearly_or_added_whole(tmp_path, seed_copy, tokenizer):
    index_dir = tmp_path / "index"
    fake_sync(index_dir, [seed_copy])
    emb = FakeEmbedder()
    assistant = Assistant(index_dir, config=Config(model=emb.name), embedder=emb, tokenizer=tokenizer)
    cases = fuzz_uploads(random.Random(3), uploads.ALLOWED_SUFFIXES, 6, uploads.MAX_UPLOAD_BYTES)
    assert len(cases) >= 7 * len(uploads.ALLOWED_SUFFIXES)
    outcomes = [upload_case(assistant, index_dir / "uploads", tmp_path, *case) for case in cases]
    bad = [o for o in outcomes if o.crashed or not o.index_ok or not o.escaped]
    assert not bad, bad
