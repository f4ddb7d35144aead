#!/usr/bin/env bash
# make run-prod: the production topology on this machine (docs/deployment.md).
#   PostgreSQL (billing store + Rasa's tracker store), Redis (Rasa's lock store, socket.io across
#   processes), RabbitMQ (Rasa's event broker → metrics consumer), RASA_REPLICAS Rasa processes,
#   the action server with ACTION_SERVER_WORKERS workers, the WeChat sender, nginx in front on
#   PROD_PORT; supervisord starts again whatever exits. The topology is bot/ops/topology.py, and
#   bot/ops/run_prod.py checks the services and runs it. Ctrl-C stops everything it started.
#
#   PROD_DEMO=1            try it here: development secrets, the demo accounts (seeded if the store is
#                          empty) and the demo page. Without it BOT_ENV=production and real secrets
#                          must come from the environment.
#   PROD_INSTALL_NGINX=1   install Debian's nginx with apt-get when it is missing.
#   RASA_MODEL=path        serve this model instead of training one when data/ changed.
#
#   scripts/run-prod.sh nginx-config DIR HOST PORT RASA_PORT...   only writes DIR/nginx.conf.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = nginx-config ]; then
  shift
  exec .venv/bin/python -m bot.ops nginx-config "$@"
fi
# The mode goes before scripts/env.sh, which fills in development defaults only where nothing is
# set; so does the billing store's URL as the operator gave it (env.sh puts a SQLite default there).
if [ "${PROD_DEMO:-0}" = 1 ]; then export BOT_ENV=development; else export BOT_ENV=production; fi
export RUN_PROD_DATABASE_URL=${BOT_DATABASE_URL:-}
source scripts/env.sh
exec .venv/bin/python -m bot.ops run-prod
