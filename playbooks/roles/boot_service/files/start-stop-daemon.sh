# Runs one daemon under start-stop-daemon, by its pid file and binary
# (never by name: other hosts' daemons may share the kernel), in one SSH
# round trip. Prints what it did: running, started, would start.
#   $0 name  $1 started|restarted  $2 check mode (True/False)  $3 pid file
#   $4 binary  $5 runtime dir or ""  $6 its owner  $7 background (True/False)
#   $8... the daemon's arguments
set -eu
name=$0 state=$1 check=$2 pidfile=$3 exec=$4 rundir=$5 owner=$6 background=$7
shift 7
running() { start-stop-daemon --status --pidfile "$pidfile" --exec "$exec" >/dev/null 2>&1; }
if [ "$check" = True ]; then
  if [ "$state" = restarted ] || ! running; then echo "would start"; else echo running; fi
  exit 0
fi
if [ "$state" = restarted ]; then
  start-stop-daemon --stop --quiet --oknodo --retry TERM/5/KILL/2 --pidfile "$pidfile" --exec "$exec"
elif running; then
  echo running
  exit 0
fi
if [ -n "$rundir" ]; then
  mkdir -p "$rundir"
  chown "$owner" "$rundir"
fi
if [ "$background" = True ]; then
  start-stop-daemon --start --quiet --background --make-pidfile --pidfile "$pidfile" --exec "$exec" -- "$@"
else
  start-stop-daemon --start --quiet --pidfile "$pidfile" --exec "$exec" -- "$@"
fi
# A daemon that dies on its configuration after forking passes the start.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  if running; then
    echo started
    exit 0
  fi
  sleep 1
done
echo "$name did not stay up ($exec, pid file $pidfile)" >&2
exit 1
