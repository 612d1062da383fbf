"""A hostile ``code`` step, saved and run by an ordinary developer through the real API and
worker: it must reach nothing of the worker (environment, files, Python, the network), see no
secret, and leave nothing behind for the next run.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import UserFactory
from tests.support.runner import Runner, steps_by_id

# Every way out a script might try; each must come back "blocked: ...".
PROBES = r"""
const tries = {
  process: () => process.env,
  require: () => require('child_process'),
  function_constructor: () => this.constructor.constructor('return process')().env,
  async_function_constructor: async () =>
    (await (async () => {}).constructor('return process')()).env,
  generator_constructor: () =>
    (function* () {}).constructor('return require')().next().value('fs'),
  indirect_eval: () => (0, eval)('process').env,
  dynamic_import: async () => await import('os'),
  std_module: async () => (await import('std')).getenv('HOME'),
  fetch: () => fetch('http://127.0.0.1/'),
  timers: () => setTimeout(() => {}, 0),
  host_proto: () => Object.getPrototypeOf(globalThis).constructor.constructor('return os')(),
};
const results = {};
for (const [name, attempt] of Object.entries(tries)) {
  try { const value = await attempt(); results[name] = 'reached: ' + typeof value; }
  catch (e) { results[name] = 'blocked: ' + e.name; }
}
return results;
"""


def code_workflow(code: str, input_value: Any = None) -> dict[str, Any]:
    with_: dict[str, Any] = {"language": "javascript", "code": code}
    if input_value is not None:
        with_["input"] = input_value
    return {"steps": [{"id": "js", "type": "code", "with": with_}]}


class TestCodeSandbox:
    async def test_no_way_out_of_the_sandbox_reaches_anything(self, runner: Runner) -> None:
        execution = await runner.run(code_workflow(PROBES))
        assert execution["status"] == "completed", execution
        results = steps_by_id(execution)["js"]["output"]
        assert set(results) >= {"process", "require", "function_constructor", "std_module"}
        reached = {name: r for name, r in results.items() if not r.startswith("blocked: ")}
        assert reached == {}

    async def test_prototype_pollution_does_not_cross_runs_of_other_users(
        self, runner: Runner, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        polluter = (
            "Object.prototype.isAdmin = true; Array.prototype.includes = () => true;"
            "JSON.stringify = () => '\"forged\"'; globalThis.stash = 'mine'; return 'done'"
        )
        assert steps_by_id(await runner.run(code_workflow(polluter)))["js"]["output"] == "done"
        victim = Runner(client, await make_user("developer"))
        probe = "return [({}).isAdmin === true, [1].includes(2), typeof stash, input]"
        execution = await victim.run(code_workflow(probe, {"who": "victim"}))
        assert steps_by_id(execution)["js"]["output"] == [
            False,
            False,
            "undefined",
            {"who": "victim"},
        ]

    async def test_a_secret_cannot_be_handed_to_code(
        self, runner: Runner, client: httpx.AsyncClient
    ) -> None:
        name = f"s_{uuid.uuid4().hex[:10]}"
        created = await client.post(
            "/api/v1/secrets", json={"name": name, "value": "v-" + name}, headers=runner.headers
        )
        assert created.status_code == 201, created.text
        for input_value in (f"{{{{ secrets.{name} }}}}", {"token": f"{{{{ secrets.{name} }}}}"}):
            response = await client.post(
                "/api/v1/workflows",
                json={"name": "leak", "definition": code_workflow("return input", input_value)},
                headers=runner.headers,
            )
            assert response.status_code == 422, response.text
            [error] = response.json()["errors"]
            assert error["pointer"].startswith("/definition/steps/0/with/input")

    async def test_a_secret_named_in_the_script_is_just_text(self, runner: Runner) -> None:
        execution = await runner.run(code_workflow("return '{{ secrets.token }}'"))
        assert steps_by_id(execution)["js"]["output"] == "{{ secrets.token }}"
