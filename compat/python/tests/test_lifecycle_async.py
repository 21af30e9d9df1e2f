"""The same flow with the async client (`create_async_client`)."""
from __future__ import annotations

import pytest

from conftest import adeploy, await_status, unique_name


@pytest.mark.asyncio
async def test_async_deploy_then_lifecycle(aclient):
    name = unique_name("py-async")
    provision, committed = await adeploy(aclient, name)
    assert committed.name == name and committed.status == "starting"
    info = await await_status(aclient, provision.app_id, "running")
    cvm = info.vm_uuid

    state = await aclient.get_cvm_state({"id": cvm})
    assert state.status == "running"

    assert (await aclient.stop_cvm({"id": cvm})).status == "stopping"
    await await_status(aclient, cvm, "stopped")
    assert (await aclient.start_cvm({"id": cvm})).status == "starting"
    await await_status(aclient, cvm, "running")
    assert (await aclient.restart_cvm({"id": cvm, "force": True})).status == "restarting"
    await await_status(aclient, cvm, "running")
    assert (await aclient.restart_cvm({"id": cvm})).status == "restarting"
    await await_status(aclient, cvm, "running")
    assert (await aclient.shutdown_cvm({"id": cvm})).status == "stopping"
    await await_status(aclient, cvm, "stopped")

    replica = await aclient.replicate_cvm({"id": cvm})
    assert replica.app_id == provision.app_id and replica.vm_uuid != cvm
    await await_status(aclient, replica.vm_uuid, "running")

    page = await aclient.get_cvm_list()
    assert {cvm, replica.vm_uuid} <= {item.vm_uuid for item in page.items}

    await aclient.delete_cvm({"id": replica.vm_uuid})
    await aclient.delete_cvm({"id": cvm})
    for gone in (replica.vm_uuid, cvm):
        for _ in range(400):
            r = await aclient.safe_get_cvm_info({"id": gone})
            if not r.ok:
                assert r.error.status_code == 404
                break
            import asyncio

            await asyncio.sleep(0.3)
        else:
            raise AssertionError(f"{gone} was not deleted")
