"""The ``storage`` step: put, get, list and delete artifacts of the running execution."""

from __future__ import annotations

from typing import Any

from tests.support.runner import Runner, steps_by_id


def storage(step_id: str, depends_on: list[str] | None = None, **with_: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "storage", "depends_on": depends_on or [], "with": with_}


class TestStorageStep:
    async def test_put_get_list_delete_within_one_run(self, runner: Runner) -> None:
        definition = {
            "steps": [
                storage("put_json", op="put", key="reports/summary.json",
                        content={"total": "{{ input.total }}"}),
                storage("put_text", op="put", key="notes.txt", content="hello {{ input.name }}"),
                storage("get_json", ["put_json"], op="get", key="reports/summary.json"),
                storage("get_text", ["put_text"], op="get", key="notes.txt"),
                storage("listed", ["put_json", "put_text"], op="list"),
                storage("removed", ["listed", "get_text"], op="delete", key="notes.txt"),
                storage("after", ["removed"], op="list", key="reports/"),
            ],
        }  # fmt: skip
        execution = await runner.run(definition, {"total": 3, "name": "ada"})

        assert execution["status"] == "completed", execution
        steps = {sid: s["output"] for sid, s in steps_by_id(execution).items()}
        assert steps["put_json"]["key"] == "reports/summary.json"
        assert steps["put_json"]["content_type"] == "application/json"
        assert steps["put_json"]["size"] == len(b'{"total":3}')
        assert steps["get_json"]["content"] == {"total": 3}
        assert steps["get_text"]["content"] == "hello ada"
        assert steps["get_text"]["content_type"] == "text/plain; charset=utf-8"
        assert [o["key"] for o in steps["listed"]["objects"]] == [
            "notes.txt",
            "reports/summary.json",
        ]
        assert steps["removed"] == {"key": "notes.txt", "deleted": True}
        assert [o["key"] for o in steps["after"]["objects"]] == ["reports/summary.json"]

    async def test_runs_do_not_see_each_others_artifacts(self, runner: Runner) -> None:
        put = {"steps": [storage("put", op="put", key="mine.txt", content="1")]}
        await runner.run(put)
        listing = await runner.run({"steps": [storage("listed", op="list")]})
        assert steps_by_id(listing)["listed"]["output"] == {
            "prefix": "",
            "objects": [],
            "count": 0,
        }

    async def test_a_given_content_type_is_kept(self, runner: Runner) -> None:
        definition = {
            "steps": [
                storage("put", op="put", key="page.html", content="<p>hi</p>",
                        content_type="text/html"),
                storage("get", ["put"], op="get", key="page.html"),
            ]
        }  # fmt: skip
        execution = await runner.run(definition)
        output = steps_by_id(execution)["get"]["output"]
        assert (output["content_type"], output["content"]) == ("text/html", "<p>hi</p>")


class TestStorageStepFailures:
    async def test_getting_a_missing_key_fails_at_once(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {**storage("get", op="get", key="nothing.txt"), "retry": {"max_attempts": 5}},
            ]
        }
        response = await runner.execute(await runner.create(definition))
        execution = await runner.execution(response.json()["execution_id"])
        step = steps_by_id(execution)["get"]
        assert execution["status"] == "failed"
        assert step["status"] == "failed"
        assert step["attempts"] == 1  # not retried: a retry cannot make it appear
        assert "no artifact under 'nothing.txt'" in step["error"]

    async def test_a_key_escaping_the_execution_is_refused(self, runner: Runner) -> None:
        definition = {"steps": [storage("put", op="put", key="../other/x", content="no")]}
        response = await runner.execute(await runner.create(definition))
        execution = await runner.execution(response.json()["execution_id"])
        assert execution["status"] == "failed"
        assert "invalid key" in steps_by_id(execution)["put"]["error"]
