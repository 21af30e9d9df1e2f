"""Shared helpers: the SDK's clients (they read PHALA_CLOUD_API_PREFIX and PHALA_CLOUD_API_KEY, which
compat/with-server.sh sets), Phala's documented two-phase deploy, and bounded polling."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import pytest_asyncio
from dstack_sdk import EnvVar
from phala_cloud import AsyncPhalaCloud, PhalaCloud, create_async_client, create_client, encrypt_env_vars

COMPOSE = """services:
  web:
    image: nginx:1.27
    environment:
      - API_KEY=${API_KEY}
"""
WAIT_S = 120.0  # an upper bound for a simulated boot or stop; the loop returns as soon as the state is reached


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def client():
    with create_client() as c:
        yield c


@pytest_asyncio.fixture()
async def aclient():
    async with create_async_client() as c:
        yield c


def deploy(client: PhalaCloud, name: str, secret: str = "s3cret") -> tuple:
    """Provision → encrypt the env to the app's key (the SDK's helper) → commit, as Phala's docs show."""
    provision = client.provision_cvm(
        {
            "name": name,
            "instance_type": "tdx.small",
            "compose_file": {"docker_compose_file": COMPOSE, "allowed_envs": ["API_KEY"]},
        }
    )
    encrypted = asyncio.run(encrypt_env_vars([EnvVar("API_KEY", secret)], provision.app_env_encrypt_pubkey))
    committed = client.commit_cvm_provision(
        {
            "app_id": provision.app_id,
            "compose_hash": provision.compose_hash,
            "encrypted_env": encrypted,
            "env_keys": ["API_KEY"],
        }
    )
    return provision, committed


async def adeploy(client: AsyncPhalaCloud, name: str, secret: str = "s3cret") -> tuple:
    provision = await client.provision_cvm(
        {
            "name": name,
            "instance_type": "tdx.small",
            "compose_file": {"docker_compose_file": COMPOSE, "allowed_envs": ["API_KEY"]},
        }
    )
    encrypted = await encrypt_env_vars([EnvVar("API_KEY", secret)], provision.app_env_encrypt_pubkey)
    committed = await client.commit_cvm_provision(
        {
            "app_id": provision.app_id,
            "compose_hash": provision.compose_hash,
            "encrypted_env": encrypted,
            "env_keys": ["API_KEY"],
        }
    )
    return provision, committed


def wait_status(client: PhalaCloud, cvm_id: str, status: str):
    """Poll get_cvm_info until the CVM shows `status` (and no operation in progress where the answer says)."""
    deadline = time.monotonic() + WAIT_S
    info = None
    while time.monotonic() < deadline:
        info = client.get_cvm_info({"id": cvm_id})
        if info.status == status and not getattr(info, "in_progress", False):
            return info
        time.sleep(0.3)
    raise AssertionError(f"CVM {cvm_id} did not reach {status!r}; last seen {info.status if info else None!r}")


async def await_status(client: AsyncPhalaCloud, cvm_id: str, status: str):
    deadline = time.monotonic() + WAIT_S
    info = None
    while time.monotonic() < deadline:
        info = await client.get_cvm_info({"id": cvm_id})
        if info.status == status and not getattr(info, "in_progress", False):
            return info
        await asyncio.sleep(0.3)
    raise AssertionError(f"CVM {cvm_id} did not reach {status!r}; last seen {info.status if info else None!r}")


def wait_gone(client: PhalaCloud, cvm_id: str) -> None:
    """Poll until get_cvm_info answers 404 (the delete has finished)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        r = client.safe_get_cvm_info({"id": cvm_id})
        if not r.ok:
            assert getattr(r.error, "status_code", None) == 404, r.error
            return
        time.sleep(0.3)
    raise AssertionError(f"CVM {cvm_id} was not deleted")


def pytest_terminal_summary(terminalreporter):
    passed = len(terminalreporter.stats.get("passed", []))
    failed = len(terminalreporter.stats.get("failed", [])) + len(terminalreporter.stats.get("error", []))
    terminalreporter.write_line(f"compat/python (phala-cloud 0.2.0): {passed} passed, {failed} failed")
