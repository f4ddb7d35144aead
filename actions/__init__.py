"""rasa-sdk custom actions: they translate between the conversation and the services in ``bot``.

Importing the package imports every action module, so that the requests a verification resumes
(``actions.common.RESUMABLE``, filled by ``@resumable``) are all registered whichever module a
caller imports first; the action server loads them all anyway.
"""

from actions import account, alerts, charges, closure, conversation, handoff, identity, wechat  # noqa: F401
