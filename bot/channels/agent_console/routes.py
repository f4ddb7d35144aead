"""The console's routes under ``/webhooks/agent/`` (credentials.yml).

* ``GET /`` and ``/console.js``, ``/console.css``: the console (``static``).
* ``POST /api/login`` ``{username, password}`` → ``{token, expires_at, agent}`` (``signin``).
* With the agent's token: ``POST /api/logout``, ``GET /api/me``, ``GET /api/queue``,
  ``GET /api/handoffs/<id>``, ``POST /api/handoffs/<id>/claim``, ``…/messages {text}``,
  ``…/notes {text}``, ``…/hand-back``, ``…/close {resolution}``.
* ``GET /api/dashboard?period=today|7d|30d``: the supervisors' dashboard (``dashboard``); 403 for an
  agent without the ``supervisor`` role, 400 for another period.
* ``GET /api/review``, ``POST /api/review/label``: the review queue for supervisors (``review``).
* Only the agent holding a claimed conversation may write to the subscriber, hand it back or close
  it (403, or 409 when another agent claimed it first). Refusals are Chinese sentences in ``error``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.agent_console import delivery, tracker
from bot.channels.agent_console.api import api, json_body, text_field
from bot.channels.agent_console.dashboard import read_dashboard
from bot.channels.agent_console.delivery import CLOSED_TEXT, HANDED_BACK_TEXT
from bot.channels.agent_console.namespace import ConsoleUpdates
from bot.channels.agent_console.review import label_review, read_review, read_review_transcript
from bot.channels.agent_console.serialise import agent_json, handoff_json, iso
from bot.channels.agent_console.signin import LoginThrottle, as_agent, sign_in, sign_out
from bot.channels.agent_console.static import console_file
from bot.channels.agent_console.store import ConsoleStore

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.app import Services
    from bot.handoff.models import Agent


def console_blueprint(
    store: ConsoleStore, updates: ConsoleUpdates, throttle: LoginThrottle, dist_dir: Path
) -> Blueprint:
    """The console's pages and JSON API over its store, live updates, sign-in throttle and files."""
    from bot.handoff import agents, handoffs

    hook = Blueprint(f"agent_console_{id(store)}", __name__)

    @hook.listener("before_server_start")
    async def bind(app: Sanic, *_: Any) -> None:
        updates.bind(app)

    @hook.route("/", methods=["GET"])
    async def page(_: Request) -> HTTPResponse:
        return console_file(dist_dir, "index.html")

    @hook.route("/console.js", methods=["GET"])
    async def script(_: Request) -> HTTPResponse:
        return console_file(dist_dir, "console.js")

    @hook.route("/console.css", methods=["GET"])
    async def style(_: Request) -> HTTPResponse:
        return console_file(dist_dir, "console.css")

    @hook.route("/api/login", methods=["POST"])
    @api
    async def login(request: Request) -> HTTPResponse:
        return response.json(await sign_in(store, throttle, request))

    @hook.route("/api/logout", methods=["POST"])
    @api
    async def logout(request: Request) -> HTTPResponse:
        await sign_out(store, request)
        return response.json({"ok": True})

    @hook.route("/api/me", methods=["GET"])
    @api
    async def me(request: Request) -> HTTPResponse:
        found = await as_agent(store, request, lambda session, agent, now, services: agent_json(agent))
        return response.json({"agent": found})

    @hook.route("/api/dashboard", methods=["GET"])
    @api
    async def figures(request: Request) -> HTTPResponse:
        return response.json(await read_dashboard(store, request))

    @hook.route("/api/review", methods=["GET"])
    @api
    async def review(request: Request) -> HTTPResponse:
        return response.json(await read_review(store, request))

    @hook.route("/api/review/<item_id:int>/transcript", methods=["GET"])
    @api
    async def review_transcript(request: Request, item_id: int) -> HTTPResponse:
        return response.json(await read_review_transcript(store, request, item_id))

    @hook.route("/api/review/label", methods=["POST"])
    @api
    async def review_label(request: Request) -> HTTPResponse:
        return response.json(await label_review(store, request))

    @hook.route("/api/queue", methods=["GET"])
    @api
    async def queue(request: Request) -> HTTPResponse:
        def read(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
            return {
                "handoffs": [handoff_json(h, now) for h in handoffs.queue(session)],
                "tickets": [handoff_json(h, now) for h in handoffs.tickets(session)],
                "agents_online": agents.agents_online(session, now, services.settings),
                "now": iso(now),
            }

        return response.json(await as_agent(store, request, read))

    @hook.route("/api/handoffs/<handoff_id:int>", methods=["GET"])
    @api
    async def handoff(request: Request, handoff_id: int) -> HTTPResponse:
        def read(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
            found = handoffs.get_handoff(session, handoff_id)
            return {
                "handoff": handoff_json(found, now),
                "notes": [
                    {
                        "id": n.id,
                        "agent": n.agent.display_name if n.agent is not None else "",
                        "text": n.body,
                        "time": iso(n.created_at),
                    }
                    for n in handoffs.notes(session, handoff_id)
                ],
                "me": agent_json(agent),
            }

        view = await as_agent(store, request, read)
        view["transcript"] = await tracker.transcript(request.app, view["handoff"]["conversation_id"])
        return response.json(view)

    @hook.route("/api/handoffs/<handoff_id:int>/claim", methods=["POST"])
    @api
    async def claim(request: Request, handoff_id: int) -> HTTPResponse:
        def take(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
            return handoff_json(handoffs.claim(session, handoff_id, agent, now), now)

        claimed = await as_agent(store, request, take)
        await updates.announce(request.app, handoff_id, queue=True)
        return response.json({"handoff": claimed})

    @hook.route("/api/handoffs/<handoff_id:int>/messages", methods=["POST"])
    @api
    async def reply(request: Request, handoff_id: int) -> HTTPResponse:
        from bot.handoff.errors import InvalidTransition, NotHolder

        body = json_body(request)

        def held(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
            text = text_field(body, "text")  # after the token: no hints without one
            found = handoffs.get_handoff(session, handoff_id)
            if found.status != "claimed":
                raise InvalidTransition(handoff_id, found.status, "reply")
            if found.claimed_by != agent.id:
                raise NotHolder(handoff_id)
            return {"handoff": handoff_json(found, now), "agent": agent_json(agent), "text": text}

        checked = await as_agent(store, request, held)
        text = checked["text"]
        conversation = checked["handoff"]
        agent = checked["agent"]
        await tracker.record_agent_message(request.app, conversation["conversation_id"], text, agent)
        delivered = await delivery.deliver(request.app, conversation, text, agent["name"])
        await updates.announce(request.app, handoff_id, queue=False)
        return response.json({"delivered": delivered, "channel": conversation["channel"]})

    @hook.route("/api/handoffs/<handoff_id:int>/notes", methods=["POST"])
    @api
    async def note(request: Request, handoff_id: int) -> HTTPResponse:
        body = json_body(request)

        def write(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
            added = handoffs.add_note(session, handoff_id, agent, text_field(body, "text"), now)
            return {"id": added.id, "agent": agent.display_name, "text": added.body, "time": iso(now)}

        written = await as_agent(store, request, write)
        await updates.announce(request.app, handoff_id, queue=False)
        return response.json({"note": written})

    @hook.route("/api/handoffs/<handoff_id:int>/hand-back", methods=["POST"])
    @api
    async def hand_back(request: Request, handoff_id: int) -> HTTPResponse:
        def give_back(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
            returned = handoffs.hand_back(session, handoff_id, agent, now)
            return {"handoff": handoff_json(returned, now), "agent": agent_json(agent)}

        done = await as_agent(store, request, give_back)
        await delivery.resume(request.app, done["handoff"], done["agent"], HANDED_BACK_TEXT, "returned")
        await updates.announce(request.app, handoff_id, queue=True)
        return response.json({"handoff": done["handoff"]})

    @hook.route("/api/handoffs/<handoff_id:int>/close", methods=["POST"])
    @api
    async def close(request: Request, handoff_id: int) -> HTTPResponse:
        body = json_body(request)

        def finish(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
            resolution = text_field(body, "resolution")
            was = handoffs.get_handoff(session, handoff_id).status
            closed = handoffs.close(session, handoff_id, agent, resolution, now)
            return {"handoff": handoff_json(closed, now), "agent": agent_json(agent), "was": was}

        done = await as_agent(store, request, finish)
        if done["was"] == "claimed":  # a ticket's conversation was never paused
            await delivery.resume(request.app, done["handoff"], done["agent"], CLOSED_TEXT, "closed")
        await updates.announce(request.app, handoff_id, queue=True)
        return response.json({"handoff": done["handoff"]})

    return hook
