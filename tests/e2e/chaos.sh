#!/bin/bash
# chaos.sh - the short form of ../chaos.sh (1,500 tasks) as part of the suite: spoold killed
# with SIGKILL and restarted, a worker killed, a worker stopped past dead_timeout, a worker
# with its clock an hour off, all on simulated nodes during one map; every task must be
# accounted for exactly once. `bash tests/chaos.sh --long` runs the 10,000-task form.
# deadline: 900
# checks: 43
exec bash "$(dirname "$0")/../chaos.sh"
