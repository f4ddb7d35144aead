"""Every sentence a subscriber or an agent reads that is not a ``domain.yml`` response.

Domain code (``bot.billing``, ``bot.alerts``, ``bot.identity``, ``bot.handoff``) returns codes,
amounts and dates; the modules here turn them into Chinese: SMS templates, summary lines, labels,
explanations. One set of formatters (:mod:`bot.texts.formats`) writes money, masked numbers and
dates the same way everywhere.

This package is a leaf: it imports nothing of the project but itself and ``bot.clock``, so every
layer may use it. Functions take plain values (fen, datetimes, names, codes), never ORM rows.
"""
