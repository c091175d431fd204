#!/usr/bin/env bash
# The main job: berthd on its defaults (/var/lib/berth, /run/berth/berth.sock), the busybox image
# bootstrapped offline, and one limited app container running a small web server. Idempotent.
set -euo pipefail
berth daemon start
berth image inspect busybox:latest >/dev/null 2>&1 || berth image bootstrap busybox
if ! berth inspect hello >/dev/null 2>&1; then
  berth run -d --name hello --hostname hello --memory 64m --cpus 0.5 --pids-limit 64 --restart unless-stopped \
    busybox sh -c 'echo "hello from $(hostname), PID $$"; exec httpd -f -p 8080 -h /etc'
else
  berth start hello >/dev/null 2>&1 || true
fi
berth ps
echo
berth logs hello
echo
echo "berthd is running (log: /var/log/berthd.log); try: berth exec hello ps, berth stats --no-stream, berth rm -f hello"
