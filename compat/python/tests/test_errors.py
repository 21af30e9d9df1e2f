"""The SDK's typed errors for what opencvm refuses: 404, 409, 422 (sync and async)."""
from __future__ import annotations

import pytest
from phala_cloud import BusinessError, ConflictError, ResourceError

from conftest import adeploy, await_status, deploy, unique_name, wait_status


def _code(exc) -> str:
    """The ERR- code: opencvm answers FastAPI's envelope {"detail": {error_code, ...}}."""
    return exc.detail["detail"]["error_code"]


def test_unknown_cvm_is_404(client):
    with pytest.raises(BusinessError) as e:
        client.get_cvm_info({"id": "no-such-cvm"})
    assert e.value.status_code == 404
    assert _code(e.value) == "ERR-03-001"
    r = client.safe_start_cvm({"id": "no-such-cvm"})
    assert not r.ok and r.error.status_code == 404


def test_invalid_body_is_422(client):
    with pytest.raises(BusinessError) as e:
        client.provision_cvm({"name": "x", "instance_type": "tdx.small", "compose_file": {"docker_compose_file": "a: 1"}})
    assert e.value.status_code == 422
    assert _code(e.value) == "ERR-02-008"
    fields = {d["field"] for d in e.value.detail["detail"]["details"]}
    assert "name" in fields


def test_busy_cvm_and_taken_name_are_409(client):
    name = unique_name("py-409")
    provision, _ = deploy(client, name)
    wait_status(client, provision.app_id, "running")
    client.restart_cvm({"id": provision.app_id})
    # the restart is still in progress: another operation is refused
    with pytest.raises(ConflictError) as e:
        client.stop_cvm({"id": provision.app_id})
    assert e.value.status_code == 409
    assert _code(e.value) == "ERR-03-009"
    wait_status(client, provision.app_id, "running")
    with pytest.raises(ConflictError) as taken:
        deploy(client, name)
    assert taken.value.status_code == 409
    assert _code(taken.value) == "ERR-01-004"
    client.delete_cvm({"id": provision.app_id})


@pytest.mark.asyncio
async def test_async_errors(aclient):
    with pytest.raises(BusinessError) as e:
        await aclient.get_cvm_info({"id": "no-such-cvm"})
    assert e.value.status_code == 404
    with pytest.raises(BusinessError) as e:
        await aclient.update_cvm_visibility({"id": "no-such-cvm", "public_sysinfo": True, "public_logs": True})
    assert e.value.status_code == 404
    assert not isinstance(e.value, ResourceError)
