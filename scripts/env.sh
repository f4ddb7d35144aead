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
# WeChat Official Account (docs/channels.md): the channel stays disabled while WECHAT_TOKEN is empty.
# Every variable is defined (empty when unset) because Rasa refuses a ${VAR} in credentials.yml
# that is not defined at all; there are no development secrets for WeChat.
export WECHAT_TOKEN=${WECHAT_TOKEN-}
export WECHAT_APP_ID=${WECHAT_APP_ID-}
export WECHAT_APP_SECRET=${WECHAT_APP_SECRET-}
export WECHAT_ENCODING_AES_KEY=${WECHAT_ENCODING_AES_KEY-}
export WECHAT_MODE=${WECHAT_MODE:-safe}
export WECHAT_API_BASE_URL=${WECHAT_API_BASE_URL:-https://api.weixin.qq.com}
export WECHAT_REPLY_DEADLINE=${WECHAT_REPLY_DEADLINE:-4.5}
# Alerts by WeChat (python -m bot deliver-wechat): the Official Account's template for alerts. Empty,
# or without WECHAT_APP_ID/WECHAT_APP_SECRET, the sender sends every WeChat alert by SMS instead.
export WECHAT_ALERT_TEMPLATE_ID=${WECHAT_ALERT_TEMPLATE_ID-}
export BOT_WECHAT_DELIVERY_INTERVAL=${BOT_WECHAT_DELIVERY_INTERVAL:-10}
# Several Rasa processes behind one address: python-socketio's Redis manager delivers socket.io
# messages (widget replies, agent console updates) across them. Empty: in-memory, one process.
export SOCKETIO_REDIS_URL=${SOCKETIO_REDIS_URL-}
# The production topology (make run-prod, docs/deployment.md): RabbitMQ carries Rasa's events to the
# metrics consumer; Redis holds Rasa's conversation locks; PostgreSQL holds the conversations in a
# database of their own. These defaults are the services of this machine (RabbitMQ's guest account
# works from 127.0.0.1 only).
export RABBITMQ_HOST=${RABBITMQ_HOST:-127.0.0.1}
export RABBITMQ_PORT=${RABBITMQ_PORT:-5672}
export RABBITMQ_USER=${RABBITMQ_USER:-guest}
export RABBITMQ_PASSWORD=${RABBITMQ_PASSWORD:-guest}
export RASA_EVENTS_QUEUE=${RASA_EVENTS_QUEUE:-billing_assistant_events}
export RASA_EVENTS_EXCHANGE=${RASA_EVENTS_EXCHANGE:-billing-assistant-events}
export REDIS_HOST=${REDIS_HOST:-127.0.0.1}
export REDIS_PORT=${REDIS_PORT:-6379}
export REDIS_PASSWORD=${REDIS_PASSWORD-}
export RASA_LOCK_REDIS_DB=${RASA_LOCK_REDIS_DB:-1}
export RASA_TRACKER_DB_HOST=${RASA_TRACKER_DB_HOST:-127.0.0.1}
export RASA_TRACKER_DB_PORT=${RASA_TRACKER_DB_PORT:-5432}
export RASA_TRACKER_DB_NAME=${RASA_TRACKER_DB_NAME:-rasa_tracker}
export RASA_TRACKER_DB_USER=${RASA_TRACKER_DB_USER:-postgres}
export RASA_TRACKER_DB_PASSWORD=${RASA_TRACKER_DB_PASSWORD-}
