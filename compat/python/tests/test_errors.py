"""The SDK's typed errors for what opencvm refuses: 404, 409, 422 (sync and async)."""
from __future__ import annotations

import pytest
from phala_cloud import ResourceError

from conftest import adeploy, await_status, deploy, unique_name, wait_status


def _code(exc) -> str:
    """The ERR- code of the SDK's ResourceError (it reads the top-level `error_code` of opencvm's envelope)."""
    assert isinstance(exc, ResourceError), f"{type(exc).__name__}, not a ResourceError: {exc.detail!r}"
    assert str(exc) and not str(exc).startswith("{"), str(exc)
    assert exc.request_id, "the error carries the request's id"
    return exc.error_code


def test_unknown_cvm_is_404(client):
    with pytest.raises(ResourceError) as e:
        client.get_cvm_info({"id": "no-such-cvm"})
    assert e.value.status_code == 404
    assert _code(e.value) == "ERR-03-001"
    assert isinstance(e.value.suggestions, list) and isinstance(e.value.links, list)
    r = client.safe_start_cvm({"id": "no-such-cvm"})
    assert not r.ok and r.error.status_code == 404 and _code(r.error) == "ERR-03-001"


def test_invalid_body_is_422(client):
    with pytest.raises(ResourceError) as e:
        client.provision_cvm({"name": "x", "instance_type": "tdx.small", "compose_file": {"docker_compose_file": "a: 1"}})
    assert e.value.status_code == 422
    assert _code(e.value) == "ERR-02-008"
    fields = {d["field"] for d in e.value.structured_details}
    assert "name" in fields


def test_busy_cvm_and_taken_name_are_409(client):
    name = unique_name("py-409")
    provision, _ = deploy(client, name)
    wait_status(client, provision.app_id, "running")
    client.restart_cvm({"id": provision.app_id})
    # the restart is still in progress: another operation is refused
    with pytest.raises(ResourceError) as e:
        client.stop_cvm({"id": provision.app_id})
    assert e.value.status_code == 409
    assert _code(e.value) == "ERR-03-009"
    wait_status(client, provision.app_id, "running")
    with pytest.raises(ResourceError) as taken:
        deploy(client, name)
    assert taken.value.status_code == 409
    assert _code(taken.value) == "ERR-01-004"
    client.delete_cvm({"id": provision.app_id})


@pytest.mark.asyncio
async def test_async_errors(aclient):
    with pytest.raises(ResourceError) as e:
        await aclient.get_cvm_info({"id": "no-such-cvm"})
    assert e.value.status_code == 404
    assert _code(e.value) == "ERR-03-001"
    with pytest.raises(ResourceError) as e:
        await aclient.update_cvm_visibility({"id": "no-such-cvm", "public_sysinfo": True, "public_logs": True})
    assert e.value.status_code == 404
    assert _code(e.value) == "ERR-03-001"
    with pytest.raises(ResourceError) as e:
        await aclient.provision_cvm({"name": "x", "instance_type": "tdx.small", "compose_file": {"docker_compose_file": "a: 1"}})
    assert e.value.status_code == 422
    assert _code(e.value) == "ERR-02-008"
    assert "name" in {d["field"] for d in e.value.structured_details}
    name = unique_name("py-409a")
    provision, _ = await adeploy(aclient, name)
    await await_status(aclient, provision.app_id, "running")
    with pytest.raises(ResourceError) as taken:
        await adeploy(aclient, name)
    assert taken.value.status_code == 409
    assert _code(taken.value) == "ERR-01-004"
    await aclient.delete_cvm({"id": provision.app_id})
