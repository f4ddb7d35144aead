"""The agent console: human agents take over handed-off conversations, served by the Rasa server.

Mounted by Rasa under ``/webhooks/agent/`` (credentials.yml names
``bot.channels.agent_console.AgentConsoleInput``). See docs/handoff.md.

* ``channel``: the input channel (receives no subscriber messages).
* ``routes``: the 12 routes: the console's files and its JSON API.
* ``dashboard``: the supervisors' dashboard (``bot.dashboard``'s figures with their labels).
* ``static``: the built console (``web/agent/`` into ``web/dist/agent/``), which holds no data.
* ``signin``: signing in and out, the failed sign-in throttle, the bearer token on every other route.
* ``api``: refusals as ``{"error": …}`` (Chinese sentences), request bodies, response headers.
* ``store``: the console's work in one store transaction; the service's refusals as API errors.
* ``serialise``: handoffs, agents and the conversation's transcript as JSON.
* ``tracker``: the direct tracker edits: an agent's message (``BotUttered`` with ``agent_id`` and
  ``agent_name`` in its metadata), and handing back or closing (``ConversationResumed`` and a listen,
  so the bot answers the subscriber's next message).
* ``delivery``: an agent's message and the bot's return, live to the subscriber through the
  conversation's channel (``bot.channels.live``): socket.io, WeChat; REST cannot be pushed to.
* ``namespace``: live updates for the consoles on the socket.io server's ``/agent`` namespace.
"""

from bot.channels.agent_console.channel import AgentConsoleInput
from bot.channels.agent_console.serialise import transcript_from_events
from bot.channels.agent_console.signin import LoginThrottle

__all__ = ["AgentConsoleInput", "LoginThrottle", "transcript_from_events"]
