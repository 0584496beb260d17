"""Sources left waiting without being queued (their indexing met a full disk) are queued again by the
resume_indexing job, and are indexed once the disk takes writes again; a full disk never marks them failed."""

from __future__ import annotations

import pytest

from appliance.bootstrap import initialise, open_appliance
from appliance.errors import DiskFull
from appliance.jobs.declared import resume_indexing
from appliance.knowledge.extract import Limits
from appliance.knowledge.sources import SourceService
from appliance.services import build_services
from appliance.storage.layout import Layout
from tests.appliance.operator_workspace import operator_workspace
from tests.small_disk import fill, small_disk

HANDBOOK = "# Parking\n\nStaff park in the north garage, levels B1 and B2.\n"


def _waiting_source(services, workspace_id: str) -> str:
    """A source stored as queued whose indexing never ran: what a full disk leaves after cutting indexing short."""
    unqueued = SourceService(services.appliance.workspaces.open(workspace_id), clock=services.appliance.clock,
                             limits=Limits(), max_workspace_bytes=10**8)
    return unqueued.add_text(title="Handbook", text=HANDBOOK).id


def _workspace(services) -> str:
    return operator_workspace(services)[0]


def test_the_job_queues_a_waiting_source_and_it_is_indexed(services):
    workspace_id = _workspace(services)
    source_id = _waiting_source(services, workspace_id)

    assert resume_indexing(services.knowledge, services.workspaces) == {"queued": 1}
    assert services.knowledge.wait_idle(30)

    source = services.knowledge.sources(workspace_id).get(source_id)
    assert source.status == "ready" and source.chunk_count >= 1
    assert resume_indexing(services.knowledge, services.workspaces) == {"queued": 0}
    services.knowledge.close()


@pytest.fixture
def on_small_disk(tmp_path, clock, settings):
    """Services of an appliance whose data directory is a 32 MiB disk."""
    with small_disk(tmp_path / "data") as disk:
        layout = Layout.of(disk, tmp_path / "keys")
        initialise(layout, clock=clock)
        appliance = open_appliance(layout, clock=clock)
        services = build_services(appliance, settings)
        try:
            yield services, disk
        finally:
            services.knowledge.close()
            appliance.close()


def test_indexing_on_a_full_disk_leaves_the_source_waiting_and_the_next_run_indexes_it(on_small_disk):
    services, disk = on_small_disk
    workspace_id = _workspace(services)
    source_id = _waiting_source(services, workspace_id)
    filler = fill(disk)

    with pytest.raises(DiskFull):
        services.knowledge.sources(workspace_id).index(source_id)
    assert resume_indexing(services.knowledge, services.workspaces) == {"queued": 1}
    assert services.knowledge.wait_idle(30)
    assert services.knowledge.sources(workspace_id).get(source_id).status == "queued"  # not failed: not its fault

    filler.unlink()
    assert resume_indexing(services.knowledge, services.workspaces) == {"queued": 1}
    assert services.knowledge.wait_idle(30)
    assert services.knowledge.sources(workspace_id).get(source_id).status == "ready"
