"""What a subscriber hears when a message could not be handled. Plain strings, no imports: the
channels use them, and so does the nginx front that run-prod writes (bot/ops/topology.py)."""

#: A message that failed in the channel or in Rasa (a store, the lock store, a Rasa process).
FAILURE_TEXT = (
    "抱歉，系统暂时繁忙，这次没能为您处理，您的账户没有任何变动。请稍后再试，或回复“转人工”；"
    "若仍无法接入，请拨打客服热线 10086（7×24小时）。"
)

#: A message during which a custom action failed (the action server is down or erred;
#: bot/rasa_patches.py). Handing over to an agent runs on the action server too, so the hotline
#: is offered.
ACTION_FAILURE_TEXT = (
    "抱歉，系统暂时繁忙，这次没能为您处理，您的账户没有任何变动。请稍后再试；"
    "如需人工服务，请拨打客服热线 10086（7×24小时）。"
)

#: A message from a subscriber still waiting in the agents' queue (at most once a minute; the
#: channel guard, bot/channels/guard.py). ``{position}`` and ``{minutes}`` as in the domain's
#: ``utter_handoff_queued``, which the subscriber read when queued.
WAITING_TEXT = (
    "您仍在人工客服队列中，当前排在第 {position} 位，预计还需等待约 {minutes} 分钟。"
    "客服接入后会在这里直接回复您，您发的消息客服都能看到，无需重复。"
)
