"""What the Python SDK sends or expects beyond the 2026-01-21 shapes (it sends X-Phala-Version 2026-06-23):
the pre-launch script as a string, update_cvm_resources with instance_type / allow_restart,
create_app_instance's CvmInfoV20260522 answer, the KMS contracts, and get_cvm_create_resources
(CvmCreateResourceGraphV20260522, and V20260121 at 2026-01-21), sync and async."""
from __future__ import annotations

import asyncio
import time

import pytest
from phala_cloud import ResourceError

from conftest import adeploy, await_status, deploy, unique_name, wait_gone, wait_status


def _resized(client, cvm: str, vcpu: int):
    for _ in range(400):
        info = wait_status(client, cvm, "running")
        if info.resource["vcpu"] == vcpu:
            return info
        time.sleep(0.3)
    return info


def test_pre_launch_script_resources_and_instances(client):
    provision, _ = deploy(client, unique_name("py-new"))
    cvm = wait_status(client, provision.app_id, "running").vm_uuid

    # no script: a string, not "None" (the SDK makes str() of what the body parses to)
    assert client.get_cvm_pre_launch_script({"id": cvm}) == ""

    # update_cvm_resources sends instance_type and allow_restart to PATCH /cvms/{id}
    client.update_cvm_resources({"id": cvm, "instance_type": "tdx.medium", "allow_restart": True})
    info = _resized(client, cvm, 2)
    assert info.resource["vcpu"] == 2 and info.resource["memory_in_gb"] == 4
    assert info.resource["instance_type"] == "tdx.medium"
    # allow_restart false: a change that restarts the running CVM is refused, nothing changes
    with pytest.raises(ResourceError) as refused:
        client.update_cvm_resources({"id": cvm, "instance_type": "tdx.large", "allow_restart": False})
    assert refused.value.status_code == 400 and refused.value.error_code == "ERR-03-008"
    with pytest.raises(ResourceError) as unknown:
        client.update_cvm_resources({"id": cvm, "instance_type": "tdx.nonexistent"})
    assert unknown.value.error_code == "ERR-02-001"
    assert client.get_cvm_info({"id": cvm}).resource["vcpu"] == 2

    # a script set, then read back as the same string
    client.update_pre_launch_script({"id": cvm, "pre_launch_script": "#!/bin/sh\necho hi\n"})
    wait_status(client, cvm, "running")
    assert client.get_cvm_pre_launch_script({"id": cvm}) == "#!/bin/sh\necho hi\n"

    # create_app_instance answers the CVM (CvmInfoV20260522: string id, resource, status)
    instance = client.create_app_instance({"app_id": provision.app_id, "name": unique_name("py-inst")})
    assert isinstance(instance.id, str) and instance.app_id == provision.app_id
    assert instance.vm_uuid and instance.vm_uuid != cvm
    assert instance.resource.vcpu == 2
    wait_status(client, instance.vm_uuid, "running")
    for vm in (instance.vm_uuid, cvm):
        client.delete_cvm({"id": vm})
    for vm in (instance.vm_uuid, cvm):
        wait_gone(client, vm)


@pytest.mark.asyncio
async def test_async_pre_launch_script_resources_and_instances(aclient):
    provision, _ = await adeploy(aclient, unique_name("py-newa"))
    cvm = (await await_status(aclient, provision.app_id, "running")).vm_uuid
    assert await aclient.get_cvm_pre_launch_script({"id": cvm}) == ""

    # the async client sends PATCH /cvms/{id}/resources
    await aclient.update_cvm_resources({"id": cvm, "instance_type": "tdx.medium", "allow_restart": True})
    info = None
    for _ in range(400):
        info = await await_status(aclient, cvm, "running")
        if info.resource["vcpu"] == 2:
            break
    assert info.resource["vcpu"] == 2 and info.resource["memory_in_gb"] == 4
    with pytest.raises(ResourceError) as refused:
        await aclient.update_cvm_resources({"id": cvm, "instance_type": "tdx.large", "allow_restart": False})
    assert refused.value.error_code == "ERR-03-008"

    instance = await aclient.create_app_instance({"app_id": provision.app_id, "name": unique_name("py-insta")})
    assert isinstance(instance.id, str) and instance.app_id == provision.app_id and instance.vm_uuid != cvm
    await await_status(aclient, instance.vm_uuid, "running")
    for vm in (instance.vm_uuid, cvm):
        await aclient.delete_cvm({"id": vm})


def test_kms_contracts(client):
    contracts = client.list_kms_contracts()
    phala = next(c for c in contracts.items if c.slug == "phala")
    assert phala.contract_address == "phala" and phala.chain_id == 0 and phala.node_count == 1
    assert phala.k256_pubkey and phala.k256_pubkey.startswith("0x")
    assert contracts.total == len(contracts.items) >= 1
    assert client.get_kms_contract("phala") == phala
    assert client.get_kms_contract(phala.id).slug == "phala"
    nodes = client.list_kms_contract_nodes("phala")
    assert nodes.total == 1 and nodes.items[0].kms_type == "phala"
    # the legacy node reads stay as they were (the SDK pins them to 2026-05-22)
    node = client.get_kms_info({"kms_id": "phala"})
    assert nodes.items[0].url == node.url and nodes.items[0].id == node.id
    with pytest.raises(ResourceError) as e:
        client.get_kms_contract("no-such-kms")
    assert e.value.status_code == 404 and e.value.error_code == "ERR-02-011"


@pytest.mark.asyncio
async def test_async_kms_contracts(aclient):
    contracts = await aclient.list_kms_contracts()
    phala = next(c for c in contracts.items if c.slug == "phala")
    assert (await aclient.get_kms_contract("phala")).id == phala.id
    nodes = await aclient.list_kms_contract_nodes("phala")
    assert [n.slug for n in nodes.items] == ["phala"]


def _check_create_resources(res, me, quotas, available, families):
    """The resource graph against what the other reads answer."""
    assert res.tier == me.workspace.tier
    limit = lambda q: None if q["limit"] < 0 else q["limit"]  # noqa: E731  (the SDK keeps quotas as dicts)
    assert res.capacity.max_instances == limit(quotas.quotas.vm_slots) == 64  # the simulated host's slots
    assert res.capacity.max_vcpu == limit(quotas.quotas.vcpu) == 32
    assert res.capacity.max_memory == limit(quotas.quotas.memory_mb) == 65536
    assert res.capacity.max_disk is None
    # the simulated host, with its free capacity, as GET /teepods/available answers it
    node = next(n for n in res.nodes if n.name == "sim-1")
    listed = next(n for n in available.nodes if n.name == "sim-1")
    assert node.teepod_id == listed.teepod_id
    assert (node.remaining_vcpu, node.remaining_memory, node.remaining_cvm_slots) == (
        listed.remaining_vcpu, listed.remaining_memory, listed.remaining_cvm_slots)
    assert 0 < node.remaining_cvm_slots <= 64 and node.images
    # the PHALA KMS, taken by the host; its gateway
    phala = next(k for k in res.kms_nodes if k.slug == "phala")
    assert phala.kms_type == "phala" and phala.kms_contract_id == phala.id and phala.url
    rel = next(r for r in res.node_kms_relations if r.kms_id == phala.id)
    assert rel.teepod_id == node.teepod_id and set(rel.supported_os_images) == {i.name for i in node.images}
    gw = next(g for g in res.gateway_nodes if g.kms_contract_id == phala.id)
    assert gw.teepod_id == node.teepod_id and gw.domain_suffix == "sim-1.dstack.localhost" and gw.enabled
    # the catalogue of GET /instance-types
    catalogue = [item for fam in families.result for item in fam.model_dump()["items"]]
    assert [(t.id, t.vcpu, t.memory_mb, t.default_disk_size_gb, t.requires_gpu, t.family) for t in res.instance_types] == [
        (t["id"], t["vcpu"], t["memory_mb"], t["default_disk_size_gb"], t["requires_gpu"], t["family"]) for t in catalogue]
    assert {t.id: t.requires_gpu_count for t in res.instance_types}["h200.small"] == 1
    # the simulated host has no GPU
    assert res.gpu_availability.public_gpu_count == 0 and not res.gpu_availability.has_public_gpus


def _free(available):
    """The simulated host's free capacity as GET /teepods/available answers it."""
    n = next(n for n in available.nodes if n.name == "sim-1")
    return (n.remaining_vcpu, n.remaining_memory, n.remaining_cvm_slots)


def _steady(read_available, read_graph):
    """A resource graph and GET /teepods/available read while the host's free capacity did not move (a CVM of an
    earlier test may still be deleting): the graph between two equal reads of the host."""
    for _ in range(100):
        before = read_available()
        graph = read_graph()
        if _free(read_available()) == _free(before):
            return graph, before
        time.sleep(0.1)
    raise AssertionError("the host's free capacity kept changing")


async def _asteady(read_available, read_graph):
    for _ in range(100):
        before = await read_available()
        graph = await read_graph()
        if _free(await read_available()) == _free(before):
            return graph, before
        await asyncio.sleep(0.1)
    raise AssertionError("the host's free capacity kept changing")


def test_cvm_create_resources(client):
    me = client.get_current_user()
    quotas, families = client.get_workspace_quotas(me.workspace.slug), client.list_all_instance_type_families()
    res, available = _steady(client.get_available_nodes, client.get_cvm_create_resources)
    assert type(res).__name__ == "CvmCreateResourceGraphV20260522"
    assert all(isinstance(k.id, str) for k in res.kms_nodes)
    _check_create_resources(res, me, quotas, available, families)
    with client.with_version("2026-01-21") as older:
        old, available = _steady(client.get_available_nodes, older.get_cvm_create_resources)
    assert type(old).__name__ == "CvmCreateResourceGraphV20260121"
    _check_create_resources(old, me, quotas, available, families)


@pytest.mark.asyncio
async def test_async_cvm_create_resources(aclient):
    me = await aclient.get_current_user()
    quotas, families = await aclient.get_workspace_quotas(me.workspace.slug), await aclient.list_all_instance_type_families()
    res, available = await _asteady(aclient.get_available_nodes, aclient.get_cvm_create_resources)
    assert type(res).__name__ == "CvmCreateResourceGraphV20260522"
    _check_create_resources(res, me, quotas, available, families)
    async with aclient.with_version("2026-01-21") as older:
        old, available = await _asteady(aclient.get_available_nodes, older.get_cvm_create_resources)
    assert type(old).__name__ == "CvmCreateResourceGraphV20260121"
    _check_create_resources(old, me, quotas, available, families)
