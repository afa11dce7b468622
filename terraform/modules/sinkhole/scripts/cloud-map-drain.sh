#!/usr/bin/env bash
# Destroy-time half of terraform_data.sinkhole_cloud_map_lifecycle (main.tf).
#
# Runs before the sinkhole's Cloud Map service is destroyed (the flag turned
# off, or the service replaced):
#   1. scales the ECS service to 0 and waits until it is stable, so that no
#      running task stays registered with a Cloud Map service about to go;
#   2. deregisters every instance still registered (orphans: a task that died
#      without ECS deregistering it, a hand-made registration), and waits
#      until Cloud Map lists none, because DeleteService refuses a service
#      with instances.
# A service (ECS or Cloud Map) that no longer exists is not an error.
#
# Environment: AWS_REGION, ECS_CLUSTER, ECS_SERVICE, CLOUD_MAP_SERVICE_ID;
# optionally DRAIN_POLL_SECONDS (default 5) and DRAIN_POLL_ATTEMPTS (24).
# Needs the AWS CLI (v1 or v2) and credentials allowed ecs:DescribeServices,
# ecs:UpdateService, servicediscovery:ListInstances and DeregisterInstance.
set -euo pipefail

: "${AWS_REGION:?AWS_REGION is not set}"
: "${ECS_CLUSTER:?ECS_CLUSTER is not set}"
: "${ECS_SERVICE:?ECS_SERVICE is not set}"
: "${CLOUD_MAP_SERVICE_ID:?CLOUD_MAP_SERVICE_ID is not set}"
poll_seconds=${DRAIN_POLL_SECONDS:-5}
poll_attempts=${DRAIN_POLL_ATTEMPTS:-24}
export AWS_PAGER=""

log() { printf '[sinkhole-cloud-map-drain] %s\n' "$*" >&2; }

if ! command -v aws >/dev/null 2>&1; then
  log "ERROR: the AWS CLI is not on PATH; it is needed to drain ${ECS_SERVICE} and deregister its Cloud Map instances."
  exit 1
fi

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

# 1. Drain the ECS service.
if ! status=$(aws --region "$AWS_REGION" ecs describe-services \
  --cluster "$ECS_CLUSTER" --services "$ECS_SERVICE" \
  --query 'services[0].status' --output text 2>"$errors"); then
  if grep -q 'ClusterNotFoundException' "$errors"; then
    status=MISSING
  else
    log "ERROR: describe-services ${ECS_SERVICE}: $(cat "$errors")"
    exit 1
  fi
fi

if [ "$status" = "ACTIVE" ]; then
  log "scaling ECS service ${ECS_SERVICE} to 0 before its Cloud Map service goes"
  aws --region "$AWS_REGION" ecs update-service \
    --cluster "$ECS_CLUSTER" --service "$ECS_SERVICE" --desired-count 0 >/dev/null
  if ! aws --region "$AWS_REGION" ecs wait services-stable \
    --cluster "$ECS_CLUSTER" --services "$ECS_SERVICE"; then
    log "WARNING: ${ECS_SERVICE} did not become stable; deregistering its instances anyway"
  fi
else
  log "ECS service ${ECS_SERVICE} is ${status:-MISSING}: nothing to scale down"
fi

# 2. Deregister what is left, then wait until Cloud Map lists nothing.
list_instances() {
  local out
  if ! out=$(aws --region "$AWS_REGION" servicediscovery list-instances \
    --service-id "$CLOUD_MAP_SERVICE_ID" --query 'Instances[].Id' --output text 2>"$errors"); then
    if grep -q 'ServiceNotFound' "$errors"; then
      return 3
    fi
    log "ERROR: list-instances ${CLOUD_MAP_SERVICE_ID}: $(cat "$errors")"
    return 1
  fi
  if [ "$out" = "None" ]; then out=""; fi
  printf '%s' "$out"
}

rc=0
instances=$(list_instances) || rc=$?
if [ "$rc" -eq 3 ]; then
  log "Cloud Map service ${CLOUD_MAP_SERVICE_ID} no longer exists: nothing to deregister"
  exit 0
elif [ "$rc" -ne 0 ]; then
  exit 1
fi

for id in $instances; do
  log "deregistering leftover instance ${id} from ${CLOUD_MAP_SERVICE_ID}"
  aws --region "$AWS_REGION" servicediscovery deregister-instance \
    --service-id "$CLOUD_MAP_SERVICE_ID" --instance-id "$id" >/dev/null
done

attempt=0
while [ -n "$instances" ]; do
  attempt=$((attempt + 1))
  if [ "$attempt" -gt "$poll_attempts" ]; then
    log "ERROR: instances still registered in ${CLOUD_MAP_SERVICE_ID} after $((poll_seconds * poll_attempts))s: ${instances}"
    exit 1
  fi
  sleep "$poll_seconds"
  rc=0
  instances=$(list_instances) || rc=$?
  if [ "$rc" -eq 3 ]; then
    instances=""
  elif [ "$rc" -ne 0 ]; then
    exit 1
  fi
done

log "Cloud Map service ${CLOUD_MAP_SERVICE_ID} has no instances left"
