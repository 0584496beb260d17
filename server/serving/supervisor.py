"""`chatspark serve`: the supervisor. Opens the appliance, runs waitress, Caddy and the scheduler; stops them clean."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from typing import TextIO

from appliance import __version__, log_outputs, logs
from appliance.bootstrap import PREVIOUS_CA_FILE, Appliance, open_appliance, server_certificate
from appliance.clock import SystemClock, isoformat
from appliance.errors import CertificateAuthorityChangeNeeded, CertificateError, ConfigurationError, ServiceError
from appliance.keys import certificates
from appliance.monitoring import serving
from appliance.services import build_scheduler, build_services, public_url, resume_workspaces
from appliance.settings import Settings
from appliance.storage.layout import Layout
from server.app import create_app
from server.serving import caddy, caddy_config
from server.serving import runtime_dir as runtime_dirs
from server.serving.appserver import AppServer
from server.serving.service_manager import ServiceManager

log = logging.getLogger("chatspark.serve")


def check_port_free(host: str, port: int) -> None:
    problem = serving.bind_error(host, port)
    if problem is not None:
        raise ServiceError(f"cannot listen on {caddy_config.listen_address(host, port)}: {problem.strerror}; "
                           "stop whatever holds that port or choose another with --port")


def display_url(settings: Settings) -> str:
    """The URL every line `serve` prints names, the same as mailed links carry: the configured public URL or host,
    else localhost (never the listening address, which a browser's certificate check and the demo page's origin
    would not match)."""
    return public_url(settings) + "/"


def certificate_names(settings: Settings) -> list[str]:
    """The names the settings add to the appliance's own certificate at serve time, each checked by its setting."""
    given = [("public_host", settings.public_host)]
    if settings.host not in ("0.0.0.0", "::"):
        given.append(("host", settings.host))
    given += [("tls_extra_names", name) for name in settings.tls_extra_names.split(",")]
    names = []
    for setting, value in given:
        if value.strip():
            try:
                names.append(certificates.checked_name(value))
            except CertificateError as exc:
                raise ConfigurationError(f"{setting}: {exc}") from None
    return names


def own_certificate(appliance: Appliance, settings: Settings, names: list[str]) -> certificates.IssuedCertificate:
    """The server certificate from the appliance's CA for every name serving needs, saying how to get a new CA when
    one is needed."""
    try:
        return server_certificate(appliance, names=names, replace_ca=settings.tls_replace_ca)
    except CertificateAuthorityChangeNeeded as exc:
        raise CertificateAuthorityChangeNeeded(
            f"{exc}. To make a new CA, start serve once with tls_replace_ca = true (CHATSPARK_TLS_REPLACE_CA=true), "
            "then have every client trust the new fingerprint it prints; or take the name out of the settings"
        ) from None


def banner(settings: Settings, layout: Layout, fingerprint: str, *, own_ca: bool,
           previous_fingerprint: str | None = None, unconstrained: bool = False) -> str:
    url = display_url(settings)
    lines = [
        f"ChatSpark Appliance {__version__} is serving",
        f"  URL:               {url}",
    ]
    if settings.host in ("0.0.0.0", "::", "") and not (settings.public_host or settings.public_url):
        lines.append("  Listening on every address: set public_host to the name clients use (until then the URL "
                     "and mailed links say localhost)")
    if own_ca:
        ca = layout.ca_cert
        lines += [
            f"  CA certificate:    {ca}",
            f"  CA fingerprint:    SHA-256 {fingerprint}",
        ]
        if previous_fingerprint and previous_fingerprint != fingerprint:
            lines += [
                f"  The CA was REPLACED; it was SHA-256 {previous_fingerprint} (kept in {PREVIOUS_CA_FILE} beside it).",
                "  Every browser, system and control panel that trusted the old CA must now trust the new one:",
            ]
        if unconstrained:
            lines.append("  WARNING: this CA has no name constraints, so its key could sign for any site; replace it "
                         "with tls_replace_ca = true")
        lines += [
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


def notify_service_manager(manager: ServiceManager, app_server: AppServer, stop: threading.Event, *,
                           url: str) -> None:
    """Until `stop`: tell systemd READY=1 once /readyz passes, then WATCHDOG=1 at half its interval while the app
    answers /healthz (so a hung app is restarted; a full disk, which fails /readyz, is not a reason to)."""
    ready = False
    next_ping = 0.0
    if manager.listening:
        manager.status("starting: waiting for /readyz")
    while not stop.wait(0.5):
        if not manager.listening:
            continue
        if not ready and app_server.answers("/readyz"):
            ready = manager.ready(f"serving {url}")
            if ready:
                log.info("told systemd the appliance is ready")
        if ready and manager.watchdog_seconds and time.monotonic() >= next_ping:
            if app_server.answers("/healthz", timeout=manager.watchdog_seconds / 4):
                manager.watchdog()
            next_ping = time.monotonic() + manager.watchdog_seconds / 2


def serve(settings: Settings, *, passphrase: str | None, out: TextIO, manager: ServiceManager | None = None,
          trial: bool = False) -> None:
    """Run until SIGTERM or SIGINT. Every check that can refuse happens before anything is started or written.
    Under systemd (`manager`, from the environment by default) READY=1 is sent once /readyz passes, and WATCHDOG=1
    while the app answers. A `trial` (an upgrade proving the new release serves) runs no job, resumes no indexing
    and leaves no serving record, so that a rollback after it finds nothing done in its name."""
    manager = ServiceManager() if manager is None else manager
    logs.configure(level=settings.log_level)
    log_outputs.add_output(settings.log_output, syslog_address=settings.log_syslog_address,
                           journal_socket=settings.log_journal_socket)
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
    names = [] if settings.tls_cert_file else certificate_names(settings)
    clock = SystemClock()
    appliance = open_appliance(layout, clock=clock, passphrase=passphrase)
    runtime_dir = runtime_dirs.make()
    stop = threading.Event()
    app_server = scheduler = supervisor = services = None
    try:
        logs.add_file(layout.logs_dir, max_bytes=settings.log_max_bytes, backups=settings.log_backups)
        ca_before = None
        if settings.tls_cert_file:
            cert_source = caddy_config.file_certificate(settings.tls_cert_file, settings.tls_key_file)
        else:
            ca_before = certificates.fingerprint(certificates.load_certificate(layout.ca_cert.read_bytes()))
            issued = own_certificate(appliance, settings, names)
            cert_source = caddy_config.pem_certificate(issued.cert_pem, issued.key_pem)
            ca_after = certificates.fingerprint(certificates.load_certificate(layout.ca_cert.read_bytes()))
            if ca_after != ca_before:
                log.warning("appliance CA replaced; clients must trust the new one",
                            extra={"previous_fingerprint": ca_before, "fingerprint": ca_after})
        services = build_services(appliance, settings)
        services.knowledge.load_model()
        scheduler = build_scheduler(services)
        app = create_app(services, settings=settings, scheduler=scheduler)
        app_server = AppServer(app, runtime_dir / "app.sock", threads=settings.app_threads,
                               max_request_body_bytes=settings.max_request_body_bytes,
                               connection_limit=settings.app_connection_limit,
                               channel_timeout=settings.app_channel_timeout_seconds)
        app_server.start()
        scheduler.start(paused=trial)
        # Only active workspaces: a cancelled one is read-only (undoing it resumes its indexing), and one whose
        # purge a crash interrupted has no key left to open it with.
        resumed = [] if trial else resume_workspaces(
            services, [w.id for w in services.workspaces.list_all() if w.status == "active"])
        if resumed:
            log.info("resumed indexing", extra={"sources": resumed})
        config = caddy_config.build_config(settings, upstream_socket=app_server.socket_path,
                                           storage_dir=layout.caddy_dir / "storage", certificates=cert_source,
                                           demo_site_dir=layout.demo_site_dir, appliance_url=public_url(settings))
        supervisor = caddy.CaddySupervisor(binary, config, home=layout.caddy_dir,
                                           restart_delay=settings.caddy_restart_delay_seconds)
        supervisor.start()
        supervisor.wait_until_listening(settings.host, settings.port)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        ca = certificates.load_certificate(layout.ca_cert.read_bytes())
        fingerprint = certificates.fingerprint(ca)
        own_ca = not settings.tls_cert_file
        if own_ca and not certificates.is_constrained(ca):
            log.warning("the appliance CA has no name constraints; set tls_replace_ca to replace it")
        log.info("serving", extra={"url": display_url(settings), "caddy_pid": supervisor.pid,
                                   "app_socket": str(app_server.socket_path), "version": __version__})
        if not trial:
            serving.write(layout, serving.ServingRecord(pid=os.getpid(), host=settings.host, port=settings.port,
                                                        url=display_url(settings), started_at=isoformat(clock.now()),
                                                        version=__version__))
        print(banner(settings, layout, fingerprint, own_ca=own_ca, previous_fingerprint=ca_before,
                     unconstrained=own_ca and not certificates.is_constrained(ca)), file=out, flush=True)
        notify_service_manager(manager, app_server, stop, url=display_url(settings))
        log.info("stopping on signal")
    finally:
        manager.stopping()
        serving.remove(layout)
        if supervisor is not None:
            supervisor.stop()
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=True)
        if app_server is not None:
            app_server.close()
        if services is not None:
            services.knowledge.close()
            services.audit.flush_repeats(everything=True)
        appliance.close()
        shutil.rmtree(runtime_dir, ignore_errors=True)
        log.info("stopped")
