"""The deploy flow and the lifecycle with the sync client (`create_client`), in its default API version."""
from __future__ import annotations

from phala_cloud import DEFAULT_API_VERSION

from conftest import deploy, unique_name, wait_gone, wait_status


def test_default_version_is_the_newest_the_sdk_knows(client):
    assert client.config.version == DEFAULT_API_VERSION == "2026-06-23"


def test_deploy_then_lifecycle(client):
    name = unique_name("py-sync")
    provision, committed = deploy(client, name)
    assert len(provision.app_id) == 40
    assert len(provision.compose_hash) == 64
    assert committed.name == name
    assert committed.status == "starting"
    assert isinstance(committed.id, str)  # the 2026-05-22+ shape: ids are strings

    info = wait_status(client, provision.app_id, "running")
    assert info.name == name and info.app_id == provision.app_id
    assert info.resource["instance_type"] == "tdx.small"
    cvm = info.vm_uuid

    stopped = client.stop_cvm({"id": cvm})
    assert stopped.status == "stopping" and stopped.vm_uuid == cvm and isinstance(stopped.id, str)
    wait_status(client, cvm, "stopped")

    started = client.start_cvm({"id": cvm})
    assert started.status == "starting"
    wait_status(client, cvm, "running")

    client.restart_cvm({"id": cvm})
    assert client.get_cvm_info({"id": cvm}).status == "restarting"
    wait_status(client, cvm, "running")

    forced = client.restart_cvm({"id": cvm, "force": True})
    assert forced.status == "restarting"
    wait_status(client, cvm, "running")

    down = client.shutdown_cvm({"id": cvm})
    assert down.status == "stopping"
    wait_status(client, cvm, "stopped")

    client.start_cvm({"id": cvm})
    wait_status(client, cvm, "running")

    replica = client.replicate_cvm({"id": cvm})
    assert replica.app_id == provision.app_id and replica.vm_uuid != cvm
    wait_status(client, replica.vm_uuid, "running")
    app_cvms = client.get_app_cvms({"app_id": provision.app_id})
    assert {c.vm_uuid for c in app_cvms} == {cvm, replica.vm_uuid}

    assert client.delete_cvm({"id": replica.vm_uuid}) is None
    client.delete_cvm({"id": cvm})
    wait_gone(client, replica.vm_uuid)
    wait_gone(client, cvm)
    assert all(item.app_id != provision.app_id for item in client.get_cvm_list().items)
