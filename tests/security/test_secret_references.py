"""Secret references cannot be forged, and a run uses only the secrets its owner may use.

Each attack runs through the real API and worker against a real loopback HTTP target, which
records every request that left Headrace: the secret's value must never reach it through the
attacker's text, and must be kept nowhere afterwards.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from temporal_workflows.secret_markers import SECRET_MARKER_PREFIX, SECRET_MARKER_SUFFIX
from tests.conftest import UserFactory
from tests.security.leaks import assert_kept_nowhere
from tests.support.runner import Runner, steps_by_id
from tests.support.target_server import TargetServer


def unique(prefix: str = "s") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def forgeries(name: str) -> list[str]:
    """Marker-shaped text an attacker can write: the old unkeyed form and guessed keys."""
    return [
        f"{SECRET_MARKER_PREFIX}{name}{SECRET_MARKER_SUFFIX}",
        f"{SECRET_MARKER_PREFIX}{'0' * 32}:{name}{SECRET_MARKER_SUFFIX}",
        f"{SECRET_MARKER_PREFIX}{'f' * 32}:{name}{SECRET_MARKER_SUFFIX}",
    ]


async def create_secret(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> tuple[str, str]:
    name, value = unique(), f"V{uuid.uuid4().hex}"
    created = await client.post(
        "/api/v1/secrets", json={"name": name, "value": value, **fields}, headers=headers
    )
    assert created.status_code == 201, created.text
    return name, value


def forwarding_workflow(target: TargetServer, secret: str) -> dict[str, Any]:
    """Uses its secret legitimately in a header, and forwards the caller's text in the body."""
    return {
        "steps": [
            {
                "id": "forward",
                "type": "http",
                "with": {
                    "method": "POST",
                    "url": target.url("/echo"),
                    "headers": {"X-Token": f"{{{{ secrets.{secret} }}}}"},
                    "json": {"msg": "{{ input.body.msg if input.body is defined else input.msg }}"},
                },
            }
        ]
    }


def sent_to(target: TargetServer, marker: str) -> list[str]:
    """The requests the target received that carry ``marker`` (a unique text of the test)."""
    return [text for text in target.received if marker in text]


class TestForgedReferences:
    async def test_an_anonymous_webhook_caller_cannot_turn_text_into_a_secret(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        make_user: UserFactory,
        target: TargetServer,
        temporal_env: WorkflowEnvironment,
    ) -> None:
        owner = await make_user("developer")
        secret, value = await create_secret(client, owner)
        workflow_id = await Runner(client, owner).create(forwarding_workflow(target, secret))
        hook = await client.post(
            "/api/v1/webhooks",
            json={"workflow_id": workflow_id, "authentication": {"type": "none"}},
            headers=owner,
        )
        assert hook.status_code == 201, hook.text
        tag = unique("tag")
        answer = await client.post(
            f"/hooks/{hook.json()['url_path']}?wait=true",
            json={"msg": [tag, *forgeries(secret)]},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "completed"

        (request,) = sent_to(target, tag)
        assert request.count(value) == 1  # only the genuine reference, in the header
        assert "x-token" in request and f"'x-token': '{value}'" in request
        execution_id = answer.json()["execution_id"]
        await assert_kept_nowhere(value, client, app, temporal_env.client, owner, execution_id)

    async def test_a_user_cannot_forge_a_reference_through_input_data(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        make_user: UserFactory,
        admin_headers: dict[str, str],
        target: TargetServer,
        temporal_env: WorkflowEnvironment,
    ) -> None:
        owner, user = await make_user("developer"), await make_user("user")
        secret, value = await create_secret(client, owner)
        # An admin secret too: the attacker's favourite target.
        admin_secret, admin_value = await create_secret(client, admin_headers)
        workflow_id = await Runner(client, owner).create(
            forwarding_workflow(target, secret), shared=True
        )
        tag = unique("tag")
        started = await Runner(client, user).execute(
            workflow_id, {"msg": [tag, *forgeries(secret), *forgeries(admin_secret)]}
        )
        assert started.status_code == 200, started.text
        assert started.json()["status"] == "completed"

        (request,) = sent_to(target, tag)
        assert request.count(value) == 1 and admin_value not in request
        execution_id = started.json()["execution_id"]
        for hidden in (value, admin_value):
            await assert_kept_nowhere(hidden, client, app, temporal_env.client, user, execution_id)

    @pytest.mark.parametrize("where", ["http", "transform"])
    async def test_an_expression_cannot_build_a_reference(
        self,
        where: str,
        client: httpx.AsyncClient,
        make_user: UserFactory,
        target: TargetServer,
    ) -> None:
        """Built in the http step itself, or in a transform (where secrets are not allowed)
        whose output the http step forwards: either way it stays text."""
        owner = await make_user("developer")
        secret, value = await create_secret(client, owner)
        tag = unique("tag")
        built = f"{{{{ '{tag} ' ~ '\\x00headrace-secret:' ~ '{secret}' ~ '\\x00' }}}}"
        steps: list[dict[str, Any]] = [
            {"id": "build", "type": "transform", "with": {"text": built}},
            {
                "id": "send",
                "type": "http",
                "depends_on": ["build"],
                "with": {
                    "method": "POST",
                    "url": target.url("/echo"),
                    "json": {
                        "text": "{{ steps.build.output.text }}" if where == "transform" else built
                    },
                },
            },
        ]
        run = await Runner(client, owner).run({"steps": steps})
        assert run["status"] == "completed", run
        (request,) = sent_to(target, tag)
        assert value not in request

    async def test_a_run_started_before_keys_existed_refuses_its_unkeyed_markers(
        self, client: httpx.AsyncClient, make_user: UserFactory, target: TargetServer
    ) -> None:
        """Caller text in such a run cannot be told from a genuine reference: the step fails
        rather than guess (and sends nothing)."""
        from activities.secrets import SecretResolver

        async def lookup(workflow_id: str, names: Any) -> dict[str, str]:
            raise AssertionError("no secret may be read")

        resolver = SecretResolver(lookup)
        with pytest.raises(Exception, match="started before secret references were keyed"):
            await resolver.resolve(
                {"json": forgeries("token")[0]}, key="", workflow_id="w", location="x"
            )
        keyless_text = {"json": "plain"}
        resolved, hidden = await resolver.resolve(
            keyless_text, key="", workflow_id="w", location="x"
        )
        assert resolved == keyless_text and hidden == []


class TestSecretScope:
    async def test_a_developer_cannot_use_an_admins_secret(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        make_user: UserFactory,
        admin_headers: dict[str, str],
        target: TargetServer,
        temporal_env: WorkflowEnvironment,
    ) -> None:
        developer = await make_user("developer")
        secret, value = await create_secret(client, admin_headers)
        run = await Runner(client, developer).run(forwarding_workflow(target, secret), {"msg": "x"})
        step = steps_by_id(run)["forward"]
        assert run["status"] == "failed"
        assert step["error"] and f"no secret named '{secret}'" in step["error"]
        assert not any(value in text for text in target.received)
        await assert_kept_nowhere(value, client, app, temporal_env.client, developer, run["id"])

    async def test_another_developers_secret_is_not_usable_either(
        self, client: httpx.AsyncClient, make_user: UserFactory, target: TargetServer
    ) -> None:
        alice, mallory = await make_user("developer"), await make_user("developer")
        secret, value = await create_secret(client, alice)
        run = await Runner(client, mallory).run(forwarding_workflow(target, secret), {"msg": "x"})
        assert run["status"] == "failed"
        assert not any(value in text for text in target.received)

    async def test_a_secret_an_admin_shares_is_usable_by_every_workflow(
        self,
        client: httpx.AsyncClient,
        make_user: UserFactory,
        admin_headers: dict[str, str],
        target: TargetServer,
    ) -> None:
        developer = await make_user("developer")
        secret, value = await create_secret(client, admin_headers)
        shared = await client.patch(
            f"/api/v1/secrets/{secret}", json={"shared": True}, headers=admin_headers
        )
        assert shared.status_code == 200 and shared.json()["shared"] is True
        tag = unique("tag")
        run = await Runner(client, developer).run(forwarding_workflow(target, secret), {"msg": tag})
        assert run["status"] == "completed", run
        (request,) = sent_to(target, tag)
        assert value in request

    async def test_only_an_admin_shares_and_a_developer_lists_what_it_may_use(
        self, client: httpx.AsyncClient, make_user: UserFactory, admin_headers: dict[str, str]
    ) -> None:
        developer = await make_user("developer")
        own, _ = await create_secret(client, developer)
        private, _ = await create_secret(client, admin_headers)
        shared, _ = await create_secret(client, admin_headers, shared=True)
        refused = await client.post(
            "/api/v1/secrets",
            json={"name": unique(), "value": "v", "shared": True},
            headers=developer,
        )
        assert refused.status_code == 403
        patched = await client.patch(
            f"/api/v1/secrets/{own}", json={"shared": True}, headers=developer
        )
        assert patched.status_code == 403
        names = {
            s["name"]
            for s in (await client.get("/api/v1/secrets", headers=developer)).json()["data"]
        }
        assert own in names and shared in names and private not in names
