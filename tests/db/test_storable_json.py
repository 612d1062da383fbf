"""JSON columns take any text a caller sends, on PostgreSQL as on SQLite."""

from __future__ import annotations

import json
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import storable_json
from db.models import User, Workflow
from db.session import create_engine, create_session_factory


class TestStorableJson:
    def test_nul_and_lone_surrogates_become_the_replacement_character(self) -> None:
        value = {"a\u0000": ["x\u0000y", "\ud800", "ok \U0001f600"]}
        assert json.loads(storable_json(value)) == {
            "a\ufffd": ["x\ufffdy", "\ufffd", "ok \U0001f600"]
        }

    def test_a_literal_backslash_u0000_is_text_and_kept(self) -> None:
        for text in ["\\u0000", "\\\\u0000", "a\\\\\\u0000"]:
            assert json.loads(storable_json(text)) == text
        assert json.loads(storable_json("\\\u0000")) == "\\\ufffd"

    async def test_a_row_with_such_text_is_stored_on_every_backend(self, db_url: str) -> None:
        engine = create_engine(db_url)
        try:
            async with create_session_factory(engine)() as session:
                user = User(email=f"{uuid.uuid4().hex}@x.io", password_hash="-", role="developer")
                session.add(user)
                await session.flush()
                workflow = Workflow(
                    owner_id=user.id,
                    name="w",
                    definition={"steps": []},
                    variables={"nul": "a\u0000b", "lone": "\udfff"},
                )
                session.add(workflow)
                await session.commit()
                stored = await _reload(session, workflow.id)
            assert stored.variables == {"nul": "a\ufffdb", "lone": "\ufffd"}
        finally:
            await engine.dispose()


async def _reload(session: AsyncSession, workflow_id: uuid.UUID) -> Workflow:
    session.expunge_all()
    found = await session.get(Workflow, workflow_id)
    assert found is not None
    return found
