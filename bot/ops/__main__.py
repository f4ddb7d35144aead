"""``python -m bot.ops``: make run-prod and its helpers.

python -m bot.ops run-prod                               the topology (scripts/run-prod.sh runs this)
python -m bot.ops nginx-config DIR HOST PORT RASA_PORT...  only writes DIR/nginx.conf
python -m bot.ops launch PIDFILE DELAY -- COMMAND...     supervisord's command for each program
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "run-prod" and not args:
        from bot.ops.run_prod import main as run_prod

        return run_prod()
    if command == "nginx-config" and len(args) >= 4 and all(a.isdigit() for a in args[2:]):
        from bot.ops.topology import write_nginx_conf

        write_nginx_conf(Path(args[0]), args[1], int(args[2]), [int(p) for p in args[3:]])
        return 0
    if command == "launch" and len(args) >= 4 and args[2] == "--":
        from bot.ops.topology import launch

        launch(Path(args[0]), float(args[1]), args[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
