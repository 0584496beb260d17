"""Dense embeddings: a local sentence-embedding model (ONNX) that turns passages into unit vectors.

The appliance ships one (all-MiniLM-L6-v2, int8; appliance.resources finds it) and uses it unless the operator sets
`dense_retrieval = false`. onnxruntime, tokenizers and numpy are imported only when a model is loaded, so a command
that never embeds does not pay for them.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.errors import ConfigurationError

if TYPE_CHECKING:
    import numpy

# onnxruntime writes a device id and a telemetry database into ~/.cache at import unless told not to: the service's
# home is not for it to write in, and nothing about this machine is anyone else's business.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
# all-MiniLM-L6-v2's max_seq_length in sentence-transformers; special tokens count towards it.
MAX_TOKENS = 256
INSTALL_HINT = "reinstall chatspark-appliance (pip install --force-reinstall chatspark-appliance)"
OFF_HINT = "or set dense_retrieval = false for full-text search alone"
# Stored vectors are float32, little-endian, whatever the machine that wrote them.
BLOB_DTYPE = "<f4"


class EmbeddingUnavailable(ConfigurationError):
    """An embedding model is configured but cannot be used: packages missing, files absent or unreadable."""

    code = "embedding_unavailable"


class Embedder:
    """A loaded model and tokenizer; `embed` gives one L2-normalised float32 vector per text."""

    def __init__(self, session: Any, tokenizer: Any, *, dimension: int, output_name: str) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._input_names = {node.name for node in session.get_inputs()}
        self._output_name = output_name
        self.dimension = dimension

    @classmethod
    def load(cls, model_dir: Path, *, threads: int = 1, max_tokens: int = MAX_TOKENS) -> "Embedder":
        """Open model_dir/model.onnx and model_dir/tokenizer.json; `threads` is onnxruntime's intra-op thread count."""
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise EmbeddingUnavailable(
                f"embedding model folder {model_dir} does not exist; point embedding_model_dir at a folder with "
                f"{MODEL_FILE} and {TOKENIZER_FILE} (`chatspark models install-minilm --out DIR` writes one), "
                f"or leave it empty for the shipped model"
            )
        return cls.load_files(model_dir / MODEL_FILE, model_dir / TOKENIZER_FILE, threads=threads,
                              max_tokens=max_tokens)

    @classmethod
    def load_files(cls, model_path: Path, tokenizer_path: Path, *, threads: int = 1,
                   max_tokens: int = MAX_TOKENS) -> "Embedder":
        if threads < 1:
            raise EmbeddingUnavailable(f"embedding threads must be at least 1, not {threads}")
        try:
            import numpy  # noqa: F401  (embed needs it; fail here rather than at the first query)
            import onnxruntime
            import tokenizers
        except ImportError as exc:
            raise EmbeddingUnavailable(
                f"dense retrieval needs onnxruntime, tokenizers and numpy ({exc.name} is missing): {INSTALL_HINT}, "
                f"{OFF_HINT}"
            ) from None
        for path in (model_path, tokenizer_path):
            if not Path(path).is_file():
                raise EmbeddingUnavailable(f"{path} is missing; an embedding model needs {MODEL_FILE} and "
                                           f"{TOKENIZER_FILE} (`chatspark models install-minilm --out DIR`)")

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # Without the arena a batch of 32 long passages gives its ~0.9 GB back instead of keeping 1.4 GB for the life
        # of the server; measured cost: ~20% at batch 32, ~4% at batch 1 (which is the faster size on one thread).
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 3  # errors only: the loader's warnings would go to stderr, not the log
        try:
            session = onnxruntime.InferenceSession(str(model_path), sess_options=options,
                                                   providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own classes straight from Exception
            raise EmbeddingUnavailable(f"{model_path} is not a usable ONNX model: {_first_line(exc)}") from exc
        try:
            tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises bare Exception for unreadable and malformed files alike
            raise EmbeddingUnavailable(f"{tokenizer_path} is not a usable tokenizer: {_first_line(exc)}") from exc

        inputs = {node.name for node in session.get_inputs()}
        outputs = session.get_outputs()
        if not {"input_ids", "attention_mask"} <= inputs or len(outputs[0].shape) != 3:
            raise EmbeddingUnavailable(
                f"{model_path} is not a token-embedding model: it must take input_ids and attention_mask and "
                f"return (batch, tokens, dimension); it takes {sorted(inputs)}"
            )
        _configure(tokenizer, max_tokens)
        output = outputs[0]
        dimension = output.shape[2]
        embedder = cls(session, tokenizer, dimension=dimension if isinstance(dimension, int) else 0,
                       output_name=output.name)
        if not embedder.dimension:
            # The graph leaves the width symbolic: one short run tells it.
            embedder.dimension = int(embedder._run(["dimension"]).shape[1])
        return embedder

    def embed(self, texts: list[str], *, batch_size: int = 32) -> numpy.ndarray:
        """Vectors of shape (len(texts), dimension), float32, unit length; each batch is padded to its longest text."""
        import numpy

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        vectors = numpy.empty((len(texts), self.dimension), dtype=numpy.float32)
        for start in range(0, len(texts), batch_size):
            vectors[start:start + batch_size] = self._run(texts[start:start + batch_size])
        return vectors

    def _run(self, texts: list[str]) -> numpy.ndarray:
        import numpy

        encodings = self._tokenizer.encode_batch(list(texts))
        mask = numpy.array([e.attention_mask for e in encodings], dtype=numpy.int64)
        candidates = {
            "input_ids": lambda: numpy.array([e.ids for e in encodings], dtype=numpy.int64),
            "attention_mask": lambda: mask,
            "token_type_ids": lambda: numpy.array([e.type_ids for e in encodings], dtype=numpy.int64),
        }
        feed = {name: make() for name, make in candidates.items() if name in self._input_names}
        hidden = self._session.run([self._output_name], feed)[0]
        # Mean over real tokens, then unit length: sentence-transformers' Pooling (mean) and Normalize modules.
        weights = mask[:, :, None].astype(numpy.float32)
        pooled = (hidden * weights).sum(axis=1) / numpy.clip(weights.sum(axis=1), 1e-9, None)
        norms = numpy.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / numpy.clip(norms, 1e-12, None)).astype(numpy.float32)


def load_optional(model_dir: Path | None, *, threads: int = 1) -> Embedder | None:
    """The embedder of a model folder, or None when there is none (BM25 only); an unusable one raises
    EmbeddingUnavailable."""
    if model_dir is None:
        return None
    return Embedder.load(model_dir, threads=threads)


_loaded: dict[tuple[str, str], Embedder] = {}
_loading = threading.Lock()


def configured(enabled: bool, model_dir: Path | None) -> Embedder | None:
    """The embedder the settings ask for (`dense_retrieval`, `embedding_model_dir`): None when dense retrieval is
    off, else the given folder's model or the shipped one. One loaded model serves the whole process: an ONNX
    session is safe to run from several threads, and loading one takes a quarter of a second and 30 MB."""
    if not enabled:
        return None
    if model_dir is not None:
        if not Path(model_dir).is_dir():
            return Embedder.load(model_dir)  # raises the error that names the missing folder
        files = (Path(model_dir) / MODEL_FILE, Path(model_dir) / TOKENIZER_FILE)
    else:
        from appliance import resources

        shipped = resources.shipped_embedding_model()
        if shipped is None:
            raise EmbeddingUnavailable(f"the shipped embedding model is missing: {INSTALL_HINT}, {OFF_HINT}")
        files = shipped
    key = (str(files[0]), str(files[1]))
    with _loading:
        if key not in _loaded:
            _loaded[key] = Embedder.load_files(*files)
        return _loaded[key]


class DeferredEmbedder:
    """The configured model, loaded at its first use: a command that never indexes nor answers (most of the CLI)
    does not pay the second it takes to import onnxruntime and load the model. `serve` loads it at start, so a
    broken model stops the service there rather than at the first question."""

    def __init__(self, model_dir: Path | None) -> None:
        self._model_dir = model_dir
        self._model: Embedder | None = None

    def model(self) -> Embedder:
        if self._model is None:
            self._model = configured(True, self._model_dir)  # locked and shared inside
        return self._model

    @property
    def dimension(self) -> int:
        return self.model().dimension

    def embed(self, texts: list[str], *, batch_size: int = 32) -> numpy.ndarray:
        return self.model().embed(texts, batch_size=batch_size)


def deferred(enabled: bool, model_dir: Path | None) -> DeferredEmbedder | None:
    """What the settings ask for, loaded at its first use; None when dense retrieval is off."""
    return DeferredEmbedder(model_dir) if enabled else None


def to_blob(vector: numpy.ndarray) -> bytes:
    """One vector as float32 little-endian bytes, for a BLOB column."""
    import numpy

    array = numpy.asarray(vector)
    if array.ndim != 1:
        raise ValueError(f"to_blob takes one vector, not an array of shape {array.shape}")
    return array.astype(BLOB_DTYPE).tobytes()


def from_blob(blob: bytes, dim: int) -> numpy.ndarray:
    """The vector to_blob stored; a length that does not fit `dim` means the index was built by another model."""
    import numpy

    if len(blob) != dim * 4:
        raise ValueError(f"stored vector has {len(blob)} bytes, not {dim * 4} for dimension {dim}: "
                         "it was written by another embedding model; re-index the sources")
    return numpy.frombuffer(blob, dtype=BLOB_DTYPE).astype(numpy.float32)


def cosine_top_k(query: numpy.ndarray, matrix: numpy.ndarray, k: int) -> list[tuple[int, float]]:
    """The k rows of `matrix` most similar to `query`, best first, as (row index, cosine); vectors are unit length,
    so the dot product is the cosine. Equal scores keep row order."""
    import numpy

    if k <= 0 or len(matrix) == 0:
        return []
    if matrix.ndim != 2 or query.shape != (matrix.shape[1],):
        raise ValueError(f"query of shape {query.shape} does not fit a matrix of shape {matrix.shape}")
    scores = matrix @ query
    best = numpy.argsort(-scores, kind="stable")[:k]
    return [(int(row), float(scores[row])) for row in best]


def _configure(tokenizer: Any, max_tokens: int) -> None:
    """Truncate at the model's limit and pad each batch to its longest text, whatever tokenizer.json asked for."""
    padding = tokenizer.padding or {}
    tokenizer.no_padding()
    tokenizer.enable_padding(pad_id=padding.get("pad_id", 0), pad_type_id=padding.get("pad_type_id", 0),
                             pad_token=padding.get("pad_token", "[PAD]"))
    tokenizer.enable_truncation(max_length=max_tokens)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
