# Development defaults for every variable the assistant reads (sourced by run.sh and test.sh).
# Outside development set them yourself: the servers refuse the dev defaults when BOT_ENV=production.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export BOT_ENV=${BOT_ENV:-development}
export BOT_DATABASE_URL=${BOT_DATABASE_URL:-sqlite:///$root/var/billing.db}
export RASA_TRACKER_DB=${RASA_TRACKER_DB:-$root/var/rasa-tracker.db}
export RASA_API_TOKEN=${RASA_API_TOKEN:-dev-only-rasa-token}
export REST_CHANNEL_TOKEN=${REST_CHANNEL_TOKEN:-dev-only-rest-token}
export ACTION_SERVER_TOKEN=${ACTION_SERVER_TOKEN:-dev-only-action-token}
export ACTION_SERVER_PORT=${ACTION_SERVER_PORT:-5055}
export ACTION_ENDPOINT=${ACTION_ENDPOINT:-http://127.0.0.1:$ACTION_SERVER_PORT/webhook}
export RASA_PORT=${RASA_PORT:-5005}
export RASA_HOST=${RASA_HOST:-127.0.0.1}
export RASA_TELEMETRY_ENABLED=false
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
