"""Human handoff: the queue of conversations a person takes over, and the agents who do.

``bot.handoff.handoffs`` is the API the agent console and the actions call; ``models`` holds the
tables, ``errors`` the refusals.
"""
