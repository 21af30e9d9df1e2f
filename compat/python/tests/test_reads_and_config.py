"""Reads and configuration calls of the SDK on one running CVM (sync), and the catalogue reads (async)."""
from __future__ import annotations

import asyncio
import time

import pytest
from dstack_sdk import EnvVar
from phala_cloud import encrypt_env_vars

from conftest import COMPOSE, deploy, unique_name, wait_gone, wait_status

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNxRzhOe2VfBQbcWW6e3RpnZrNfRt6LxuQ9FNTnRsWF py@compat"


@pytest.fixture(scope="module")
def running():
    from phala_cloud import create_client

    with create_client() as c:
        provision, _ = deploy(c, unique_name("py-reads"))
        info = wait_status(c, provision.app_id, "running")
        yield c, provision, info
        c.delete_cvm({"id": info.vm_uuid})
        wait_gone(c, info.vm_uuid)


def test_account_and_workspaces(client):
    me = client.get_current_user()
    assert me.workspace.slug and me.user.username
    spaces = client.list_workspaces()
    assert me.workspace.slug in {w.slug for w in spaces.data}
    ws = client.get_workspace(me.workspace.slug)
    assert ws.slug == me.workspace.slug
    quotas = client.get_workspace_quotas(me.workspace.slug)
    assert quotas.team_slug == me.workspace.slug
    nodes = client.get_workspace_nodes({"team_slug": me.workspace.slug})
    assert nodes.total >= 1


def test_catalogue(client):
    nodes = client.get_available_nodes()
    assert nodes.nodes and nodes.nodes[0].images
    families = client.list_all_instance_type_families()
    assert any(item["id"] == "tdx.small" for fam in families.result for item in fam.model_dump()["items"])
    cpu = client.list_family_instance_types({"family": "cpu"})
    assert any(t.id == "tdx.small" for t in cpu.items)
    images = client.get_os_images()
    assert images.total == len(images.items) >= 1
    kms = client.get_kms_list()
    assert any(k.slug == "phala" for k in kms.items)
    assert client.get_kms_info({"kms_id": "phala"}).slug == "phala"
    assert len(client.next_app_ids().app_ids) == 1


def test_cvm_reads(running):
    client, provision, info = running
    cvm = info.vm_uuid
    assert client.get_cvm_state({"id": cvm}).status == "running"
    assert any(item.vm_uuid == cvm for item in client.get_cvm_list().items)
    assert client.get_cvm_stats({"id": cvm}).is_online is True
    assert client.get_cvm_network({"id": cvm}).is_online is True
    containers = client.get_cvm_containers_stats({"id": cvm})
    assert containers.containers[0]["image"] == "nginx:1.27"
    assert client.get_cvm_docker_compose({"id": cvm}) == COMPOSE
    compose = client.get_cvm_compose_file({"id": cvm})
    assert compose.docker_compose_file == COMPOSE and compose.allowed_envs == ["API_KEY"]
    assert client.get_cvm_user_config({"id": cvm}).hostname
    assert client.get_cvm_attestation({"id": cvm}).is_online is True
    assert len(client.get_available_os_images({"id": cvm})) >= 1
    batch = client.get_cvm_status_batch({"vm_uuids": [cvm]})
    assert batch[cvm].status == "running"
    pub = client.get_app_env_encrypt_pub_key({"kms": "phala", "app_id": provision.app_id})
    assert pub.public_key == provision.app_env_encrypt_pubkey
    app = client.get_app_info({"app_id": provision.app_id})
    assert app.id == provision.app_id
    revisions = client.get_app_revisions({"app_id": provision.app_id})
    assert revisions.revisions[0].compose_hash == provision.compose_hash


def test_configuration(running):
    client, provision, info = running
    cvm = info.vm_uuid

    # visibility (the SDK sends public_tcbinfo: null when it is not given)
    client.update_cvm_visibility({"id": cvm, "public_sysinfo": False, "public_logs": True})
    wait_status(client, cvm, "running")
    after = client.get_cvm_info({"id": cvm})
    assert after.public_sysinfo is False and after.public_logs is True

    # envs: a new sealed env, same keys
    encrypted = asyncio.run(encrypt_env_vars([EnvVar("API_KEY", "rotated")], provision.app_env_encrypt_pubkey))
    accepted = client.update_cvm_envs({"id": cvm, "encrypted_env": encrypted, "env_keys": ["API_KEY"]})
    assert accepted.status == "in_progress"
    wait_status(client, cvm, "running")

    # compose, two-phase: provision the update (new compose hash), then commit it
    new_compose = COMPOSE.replace("nginx:1.27", "nginx:1.28")
    current = client.get_cvm_compose_file({"id": cvm}).model_dump()
    current["docker_compose_file"] = new_compose
    staged = client.provision_cvm_compose_file_update({"id": cvm, "app_compose": current})
    assert staged.compose_hash and staged.compose_hash != provision.compose_hash
    client.commit_cvm_compose_file_update({"id": cvm, "compose_hash": staged.compose_hash})
    wait_status(client, cvm, "running")
    assert client.get_cvm_docker_compose({"id": cvm}) == new_compose
    assert client.get_cvm_info({"id": cvm}).compose_hash == staged.compose_hash

    # resources: update_cvm_resources sends PATCH /cvms/{id} (the unified update)
    client.update_cvm_resources({"id": cvm, "vcpu": 2, "memory": 4096})
    for _ in range(400):
        resized = wait_status(client, cvm, "running")
        if resized.resource["vcpu"] == 2:
            break
        time.sleep(0.3)
    assert resized.resource["vcpu"] == 2 and resized.resource["memory_in_gb"] == 4


def test_ssh_keys(client):
    created = client.create_ssh_key({"name": "py-compat", "public_key": SSH_KEY})
    assert created.name == "py-compat"
    assert created.id in {k.id for k in client.list_ssh_keys()}
    client.delete_ssh_key({"key_id": created.id})
    assert created.id not in {k.id for k in client.list_ssh_keys()}


@pytest.mark.asyncio
async def test_async_reads(aclient):
    me = await aclient.get_current_user()
    assert me.workspace.slug
    nodes = await aclient.get_available_nodes()
    assert nodes.nodes
    assert (await aclient.get_os_images()).items
    assert any(k.slug == "phala" for k in (await aclient.get_kms_list()).items)
    assert (await aclient.list_workspaces()).data
    assert isinstance(await aclient.list_ssh_keys(), list)
