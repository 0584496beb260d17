"""The frozen server bundle (dist/chatspark/) on its own, copied to a scratch folder with no source tree and no
virtualenv in sight: init, the demo agent, serve through its bundled Caddy with the bundled embedding model, HTTPS
/readyz, a login (argon2) and a chat through the widget API, then a clean stop."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.packaging.conftest import ROOT, SERVER_BUNDLE, bare_environment, folder_size, run
from tests.packaging.serving import Served, demo_agent, port_closed
from tests.running import children_named, free_port

OPERATOR = "admin@frozen.test"
PASSWORD = "bundled appliance operator passphrase"


@pytest.fixture(scope="module")
def frozen(scratch_copy, tmp_path_factory):
    bundle = scratch_copy(SERVER_BUNDLE)
    print(f"\ndist/chatspark/: {folder_size(bundle) / 1048576:.0f} MiB")
    home = tmp_path_factory.mktemp("home")
    # No embedding_model_dir: dense retrieval is on by default, with the model the bundle carries.
    env = bare_environment(home)
    return bundle / "chatspark", home, env


def test_the_bundle_carries_caddy_the_migrations_the_widget_the_config_and_the_model(frozen):
    executable, _, _ = frozen
    inside = executable.parent / "_internal"
    for path in ("bin/caddy", "models/minilm/model.onnx", "models/minilm/tokenizer.json", "config/appliance.toml",
                 "config/common-passwords.txt", "server/static/widget/widget.js", "server/templates/base.html",
                 "appliance/storage/migrations/control/0001_initial.sql"):
        assert (inside / path).is_file(), path
    assert not list(inside.rglob("PySide6")), "the panel's Qt belongs in its own bundle"


def test_the_frozen_appliance_initialises_serves_https_answers_a_chat_and_stops_clean(frozen):
    executable, home, env = frozen
    data_dir, key_dir = home / "data", home / "keys"
    (home / "password").write_text(PASSWORD)
    version = run(executable, "--version", env=env, cwd=home)
    assert version.stdout.startswith("chatspark ")
    initialised = run(executable, "init", "--data-dir", data_dir, "--key-dir", key_dir, "--operator-email", OPERATOR,
                      "--password-file", home / "password", env=env, cwd=home)
    assert "CA fingerprint:  SHA-256" in initialised.stdout
    port, site_port = free_port(), free_port()
    demo = run(executable, "demo", "create", "--data-dir", data_dir, "--key-dir", key_dir, "--owner-email", OPERATOR,
               "--site-port", str(site_port), "--appliance-url", f"https://localhost:{port}", env=env, cwd=home)
    public_id = demo_agent(demo.stdout)

    with (home / "serve.out").open("w") as out, (home / "serve.err").open("w") as err:
        process = subprocess.Popen([executable, "serve", "--data-dir", data_dir, "--key-dir", key_dir, "--port",
                                    str(port)], stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=home)
    try:
        served = Served(port, data_dir / "tls" / "ca.crt")
        assert served.wait_ready(process)["checks"] == {"databases": "ok", "disk": "ok", "scheduler": "ok"}
        [caddy] = children_named(process.pid, "caddy")
        assert Path(f"/proc/{caddy}/exe").resolve() == executable.parent / "_internal" / "bin" / "caddy"
        # Nothing of the source tree or the virtualenv is loaded: every mapped file is the bundle's or the system's.
        mapped = {line.split()[-1] for line in Path(f"/proc/{process.pid}/maps").read_text().splitlines()
                  if line.split()[-1].startswith("/")}
        assert mapped and not [path for path in mapped if path.startswith(str(ROOT))]
        assert any("onnxruntime" in path for path in mapped), "the embedding model's runtime is loaded"

        assert served.login(OPERATOR, PASSWORD)
        reply = served.chat(public_id, f"https://localhost:{site_port}", "Where do visitors park?")
        assert reply["answered"] and "B1" in reply["text"] and reply["sources"]
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    assert code == 0, (home / "serve.err").read_text()[-2000:]
    assert port_closed(port) and not children_named(process.pid, "caddy")
    assert "Traceback" not in (home / "serve.err").read_text()


def test_the_frozen_cli_installs_the_bundled_embedding_model(frozen, tmp_path):
    executable, home, env = frozen
    result = run(executable, "models", "install-minilm", "--out", tmp_path / "model", env=env, cwd=home)
    assert "384 dimensions" in result.stdout
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"model.onnx", "tokenizer.json"}
