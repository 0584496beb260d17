"""`chatspark serve`: the supervisor. Opens the appliance, runs waitress, Caddy and the scheduler; stops them clean."""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import TextIO

from appliance import __version__, logs
from appliance.bootstrap import open_appliance, server_certificate
from appliance.clock import SystemClock
from appliance.errors import ServiceError
from appliance.keys import certificates
from appliance.services import build_scheduler, build_services, resume_workspaces
from appliance.settings import Settings
from appliance.storage.layout import Layout
from server.app import create_app
from server.serving import caddy
from server.serving.appserver import AppServer

log = logging.getLogger("chatspark.serve")


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ServiceError(f"cannot listen on {caddy.listen_address(host, port)}: {exc.strerror}; "
                               "stop whatever holds that port or choose another with --port") from None


def display_url(settings: Settings) -> str:
    host = settings.public_host or settings.host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    host = f"[{host}]" if ":" in host else host
    return f"https://{host}/" if settings.port == 443 else f"https://{host}:{settings.port}/"


def banner(settings: Settings, layout: Layout, fingerprint: str, *, own_ca: bool) -> str:
    url = display_url(settings)
    lines = [
        f"ChatSpark Appliance {__version__} is serving",
        f"  URL:               {url}",
    ]
    if own_ca:
        ca = layout.ca_cert
        lines += [
            f"  CA certificate:    {ca}",
            f"  CA fingerprint:    SHA-256 {fingerprint}",
            "  Trust the CA (after checking the fingerprint above):",
            f"    curl:            curl --cacert {ca} {url}healthz",
            f"    Debian/Ubuntu:   sudo cp {ca} /usr/local/share/ca-certificates/chatspark-appliance.crt"
            " && sudo update-ca-certificates",
            f"    RHEL/Fedora:     sudo cp {ca} /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust",
            "    Browsers:        import the file as a certificate authority in the browser's certificate settings",
        ]
    if settings.demo_site_port:
        lines.append(f"  Demo intranet page: https://localhost:{settings.demo_site_port}/ (chat: bottom-right button)")
    lines.append("  Stop with Ctrl+C (or SIGTERM).")
    return "\n".join(lines)


def serve(settings: Settings, *, passphrase: str | None, out: TextIO) -> None:
    """Run until SIGTERM or SIGINT. Every check that can refuse happens before anything is started or written."""
    logs.configure(level=settings.log_level)
    layout = Layout.of(settings.data_dir, settings.key_dir)
    check_port_free(settings.host, settings.port)
    if settings.http_redirect_port:
        check_port_free(settings.host, settings.http_redirect_port)
    if settings.demo_site_port:
        check_port_free(settings.host, settings.demo_site_port)
        if not (layout.demo_site_dir / "index.html").is_file():
            raise ServiceError(f"no demo page in {layout.demo_site_dir}; run `chatspark demo create --site-port "
                               f"{settings.demo_site_port}` first, or leave out --demo-site-port")
    binary = caddy.find_binary(settings)
    clock = SystemClock()
    appliance = open_appliance(layout, clock=clock, passphrase=passphrase)
    runtime_dir = Path(tempfile.mkdtemp(prefix="chatspark-"))  # 0700, short enough for AF_UNIX paths
    stop = threading.Event()
    app_server = scheduler = supervisor = services = None
    try:
        logs.add_file(layout.logs_dir, max_bytes=settings.log_max_bytes, backups=settings.log_backups)
        if settings.tls_cert_file:
            cert_source = caddy.file_certificate(settings.tls_cert_file, settings.tls_key_file)
        else:
            issued = server_certificate(appliance)
            cert_source = caddy.pem_certificate(issued.cert_pem, issued.key_pem)
        services = build_services(appliance, settings)
        scheduler = build_scheduler(services)
        app = create_app(services, settings=settings, scheduler=scheduler)
        app_server = AppServer(app, runtime_dir / "app.sock", threads=settings.app_threads,
                               max_request_body_bytes=settings.max_request_body_bytes)
        app_server.start()
        scheduler.start()
        # Only active workspaces: a cancelled one is read-only (undoing it resumes its indexing), and one whose
        # purge a crash interrupted has no key left to open it with.
        resumed = resume_workspaces(services, [w.id for w in services.workspaces.list_all() if w.status == "active"])
        if resumed:
            log.info("resumed indexing", extra={"sources": resumed})
        config = caddy.build_config(settings, upstream_socket=app_server.socket_path,
                                    storage_dir=layout.caddy_dir / "storage", certificates=cert_source,
                                    demo_site_dir=layout.demo_site_dir)
        supervisor = caddy.CaddySupervisor(binary, config, home=layout.caddy_dir,
                                           restart_delay=settings.caddy_restart_delay_seconds)
        supervisor.start()
        supervisor.wait_until_listening(settings.host, settings.port)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        fingerprint = certificates.fingerprint(certificates.load_certificate(layout.ca_cert.read_bytes()))
        log.info("serving", extra={"url": display_url(settings), "caddy_pid": supervisor.pid,
                                   "app_socket": str(app_server.socket_path), "version": __version__})
        print(banner(settings, layout, fingerprint, own_ca=not settings.tls_cert_file), file=out, flush=True)
        while not stop.wait(0.5):
            pass
        log.info("stopping on signal")
    finally:
        if supervisor is not None:
            supervisor.stop()
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=True)
        if app_server is not None:
            app_server.close()
        if services is not None:
            services.knowledge.close()
        appliance.close()
        shutil.rmtree(runtime_dir, ignore_errors=True)
        log.info("stopped")
