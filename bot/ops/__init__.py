"""Operations: ``make run-prod``'s topology (:mod:`bot.ops.topology`) and the program that runs it
(:mod:`bot.ops.run_prod`). ``python -m bot.ops`` is their command line (scripts/run-prod.sh)."""
