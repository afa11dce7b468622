#!/usr/bin/env bash
# Tests of modules/sinkhole/scripts/cloud-map-{drain,rebind}.sh, the
# provisioners of terraform_data.sinkhole_cloud_map_lifecycle, against a fake
# `aws` command that records its calls and plays back canned answers.
# Run by terraform/test.sh; needs only bash and coreutils.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts="$here/../modules/sinkhole/scripts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/bin" "$work/empty"
cat >"$work/bin/aws" <<'FAKE'
#!/usr/bin/env bash
# Fake AWS CLI. State: $FAKE_DIR/instances (registered instance ids, one a
# line), $FAKE_DIR/calls (every call). Knobs: FAKE_ECS_STATUS, FAKE_WAIT_RC,
# FAKE_CM_MISSING, FAKE_STICKY (deregistration never takes), FAKE_DENY.
echo "$*" >>"$FAKE_DIR/calls"
args=" $* "
case "$args" in
  *" ecs describe-services "*)
    if [ -n "${FAKE_DENY:-}" ]; then
      echo "An error occurred (AccessDeniedException) when calling the DescribeServices operation: denied" >&2
      exit 254
    fi
    echo "${FAKE_ECS_STATUS:-ACTIVE}" ;;
  *" ecs update-service "*) echo '{"service":{}}' ;;
  *" ecs wait services-stable "*) exit "${FAKE_WAIT_RC:-0}" ;;
  *" servicediscovery list-instances "*)
    if [ -n "${FAKE_CM_MISSING:-}" ]; then
      echo "An error occurred (ServiceNotFound) when calling the ListInstances operation: Service not found" >&2
      exit 254
    fi
    paste -sd '\t' "$FAKE_DIR/instances" ;;
  *" servicediscovery deregister-instance "*)
    id=${args##* --instance-id }
    id=${id%% *}
    if [ -z "${FAKE_STICKY:-}" ]; then
      grep -vx -- "$id" "$FAKE_DIR/instances" >"$FAKE_DIR/instances.new" || true
      mv "$FAKE_DIR/instances.new" "$FAKE_DIR/instances"
    fi
    echo '{"OperationId":"op-1"}' ;;
  *)
    echo "fake aws: unexpected call: $*" >&2
    exit 2 ;;
esac
FAKE
chmod +x "$work/bin/aws"

passed=0
failed=0
case_dir=""

# new_case NAME INSTANCE...: a fresh fake state holding these instances.
new_case() {
  name=$1
  shift
  case_dir="$work/case-$((passed + failed))"
  mkdir -p "$case_dir"
  : >"$case_dir/calls"
  : >"$case_dir/instances"
  for id in "$@"; do echo "$id" >>"$case_dir/instances"; done
}

# run_script SCRIPT [VAR=VALUE...]: runs it with the fake aws; sets rc and out.
run_script() {
  local script=$1
  shift
  rc=0
  out=$(env -i PATH="$work/bin:/usr/bin:/bin" HOME="$work" FAKE_DIR="$case_dir" \
    AWS_REGION=eu-west-2 ECS_CLUSTER=arn:aws:ecs:eu-west-2:123456789012:cluster/cabal-mail \
    ECS_SERVICE=cabal-sinkhole CLOUD_MAP_SERVICE_ID=srv-abcdefghijklmnop \
    DRAIN_POLL_SECONDS=0 DRAIN_POLL_ATTEMPTS=3 "$@" \
    bash "$scripts/$script" 2>&1) || rc=$?
}

check() {
  local what=$1
  shift
  if "$@"; then
    return 0
  fi
  echo "  FAIL [$name]: $what"
  echo "    rc=$rc output:"
  printf '%s\n' "$out" | sed 's/^/      /'
  echo "    aws calls:"
  sed 's/^/      /' "$case_dir/calls"
  case_ok=false
}

called() { grep -q -- "$1" "$case_dir/calls"; }
not_called() { ! grep -q -- "$1" "$case_dir/calls"; }
said() { grep -q -- "$1" <<<"$out"; }
registered() { [ "$(wc -l <"$case_dir/instances")" -eq "$1" ]; }

finish() {
  if $case_ok; then
    echo "  ok   $name"
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
}

echo "cloud-map scripts (fake aws CLI):"

case_ok=true
new_case "drain: active service and two orphans -> scale to 0, wait, deregister both" \
  orphan-1 orphan-2
run_script cloud-map-drain.sh
check "exit 0" test "$rc" -eq 0
check "scaled to 0" called "ecs update-service --cluster arn:aws:ecs:eu-west-2:123456789012:cluster/cabal-mail --service cabal-sinkhole --desired-count 0"
check "waited for stable" called "ecs wait services-stable"
check "deregistered orphan-1" called "deregister-instance --service-id srv-abcdefghijklmnop --instance-id orphan-1"
check "deregistered orphan-2" called "deregister-instance --service-id srv-abcdefghijklmnop --instance-id orphan-2"
check "none left" registered 0
finish

case_ok=true
new_case "drain: no orphans -> scale to 0, deregister nothing"
run_script cloud-map-drain.sh
check "exit 0" test "$rc" -eq 0
check "scaled to 0" called "--desired-count 0"
check "no deregistration" not_called "deregister-instance"
finish

case_ok=true
new_case "drain: ECS service already gone -> no scale-down, orphans still deregistered" orphan-1
run_script cloud-map-drain.sh FAKE_ECS_STATUS=None
check "exit 0" test "$rc" -eq 0
check "no update-service" not_called "update-service"
check "deregistered orphan-1" called "--instance-id orphan-1"
finish

case_ok=true
new_case "drain: Cloud Map service already gone -> success"
run_script cloud-map-drain.sh FAKE_ECS_STATUS=INACTIVE FAKE_CM_MISSING=1
check "exit 0" test "$rc" -eq 0
check "said so" said "no longer exists"
finish

case_ok=true
new_case "drain: service never stable -> warn and deregister anyway" orphan-1
run_script cloud-map-drain.sh FAKE_WAIT_RC=255
check "exit 0" test "$rc" -eq 0
check "warned" said "WARNING"
check "deregistered orphan-1" called "--instance-id orphan-1"
finish

case_ok=true
new_case "drain: instances that never go -> fail, naming them" stuck-1
run_script cloud-map-drain.sh FAKE_STICKY=1
check "exit 1" test "$rc" -eq 1
check "names the instance" said "stuck-1"
finish

case_ok=true
new_case "drain: AWS error -> fail with the error"
run_script cloud-map-drain.sh FAKE_DENY=1
check "exit 1" test "$rc" -eq 1
check "shows the error" said "AccessDeniedException"
finish

case_ok=true
new_case "drain: no AWS CLI -> fail loudly"
rc=0
out=$(env -i PATH="$work/empty" AWS_REGION=eu-west-2 ECS_CLUSTER=c ECS_SERVICE=s CLOUD_MAP_SERVICE_ID=srv-x \
  /bin/bash "$scripts/cloud-map-drain.sh" 2>&1) || rc=$?
check "exit 1" test "$rc" -eq 1
check "says why" said "AWS CLI is not on PATH"
finish

case_ok=true
new_case "drain: missing variable -> fail before any call"
rc=0
out=$(env -i PATH="$work/bin:/usr/bin:/bin" FAKE_DIR="$case_dir" AWS_REGION=eu-west-2 ECS_CLUSTER=c ECS_SERVICE=s \
  bash "$scripts/cloud-map-drain.sh" 2>&1) || rc=$?
check "exit non-zero" test "$rc" -ne 0
check "names it" said "CLOUD_MAP_SERVICE_ID"
check "no AWS call" test ! -s "$case_dir/calls"
finish

case_ok=true
new_case "rebind: puts the desired count back"
run_script cloud-map-rebind.sh DESIRED_COUNT=1
check "exit 0" test "$rc" -eq 0
check "desired 1" called "ecs update-service --cluster arn:aws:ecs:eu-west-2:123456789012:cluster/cabal-mail --service cabal-sinkhole --desired-count 1"
check "no forced deployment" not_called "force-new-deployment"
finish

case_ok=true
new_case "rebind: quiesced -> desired 0"
run_script cloud-map-rebind.sh DESIRED_COUNT=0
check "exit 0" test "$rc" -eq 0
check "desired 0" called "--desired-count 0"
finish

echo "cloud-map scripts: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
