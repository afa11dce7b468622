#!/usr/bin/env bash
# Create-time half of terraform_data.sinkhole_cloud_map_lifecycle (main.tf).
#
# Runs after the ECS service points at the current Cloud Map service. The
# drain (cloud-map-drain.sh) set the service's desired count to 0 behind
# Terraform's back; this puts back the count Terraform wants (0 when
# quiesced, else 1), so that a new task starts and registers with the current
# Cloud Map service. On the first apply the count is already right and this
# changes nothing (a desired-count change alone starts no new deployment).
#
# Environment: AWS_REGION, ECS_CLUSTER, ECS_SERVICE, DESIRED_COUNT.
set -euo pipefail

: "${AWS_REGION:?AWS_REGION is not set}"
: "${ECS_CLUSTER:?ECS_CLUSTER is not set}"
: "${ECS_SERVICE:?ECS_SERVICE is not set}"
: "${DESIRED_COUNT:?DESIRED_COUNT is not set}"
export AWS_PAGER=""

log() { printf '[sinkhole-cloud-map-rebind] %s\n' "$*" >&2; }

if ! command -v aws >/dev/null 2>&1; then
  log "ERROR: the AWS CLI is not on PATH; set the desired count of ${ECS_SERVICE} to ${DESIRED_COUNT} by hand."
  exit 1
fi

log "setting the desired count of ${ECS_SERVICE} to ${DESIRED_COUNT}"
aws --region "$AWS_REGION" ecs update-service \
  --cluster "$ECS_CLUSTER" --service "$ECS_SERVICE" --desired-count "$DESIRED_COUNT" >/dev/null
