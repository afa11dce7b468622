/**
 * sinkhole: an SMTP test fixture whose replies (defer, bounce, accept,
 * accept-log, greylist) an operator switches at run time through one SSM
 * parameter. Reachable only from inside the VPC, through Cloud Map
 * (sinkhole.cabal.internal); never behind a load balancer.
 *
 *   var.sinkhole = false   only the ECR repository exists (and the prod guard,
 *                          which owns nothing in AWS).
 *   var.sinkhole = true    the whole tier. Refused in prod, twice: the GitHub
 *                          variable TF_VAR_SINKHOLE is false there, and the
 *                          preconditions below fail the plan.
 *
 *   var.smtp_out_log_group_name, whatever the flag: a metric filter and an
 *                          alarm on smtp-out's log group for mail queued to
 *                          sinkhole.test (the cleanup safety net). null: neither.
 *
 * Operator workflow, runbook and rollback: docs/deployment.md.
 */

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  enabled = var.sinkhole ? 1 : 0

  name          = "${var.name_prefix}-sinkhole"
  account_id    = data.aws_caller_identity.current.account_id
  partition     = data.aws_partition.current.partition
  region        = data.aws_region.current.name
  desired_count = var.quiesced ? 0 : 1

  # Both are built from known values so that the plan shows them (and the
  # tests can check them); postconditions compare them with what AWS returns.
  # A name starting with "/" gives parameter/cabal/x, never parameter//cabal/x.
  parameter_arn   = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(var.parameter_name, "/")}"
  repository_url  = "${local.account_id}.dkr.ecr.${local.region}.${data.aws_partition.current.dns_suffix}/${var.ecr_repository_name}"
  container_image = var.image_tag == null ? null : "${local.repository_url}:${var.image_tag}"

  container_name = "sinkhole"
  dns_name       = "${var.cloud_map_service_name}.${var.cloud_map_namespace_name}"

  tags = merge(var.tags, {
    "cabal:tier" = "sinkhole"
  })
}

# -- Prod guard -----------------------------------------------------------------
#
# Not gated on the flag, so it is planned in every environment, and its
# precondition fails the plan before anything is created, changed or destroyed.
# terraform_data lives only in the state: nothing is created in AWS. The task
# definition carries the same precondition (the plan's wording), so removing
# this resource alone does not remove the guard.

resource "terraform_data" "prod_guard" {
  input = var.environment

  lifecycle {
    precondition {
      condition     = !(var.sinkhole && var.environment == "prod")
      error_message = "Sinkhole tier must never run in prod."
    }
  }
}

# -- ECR repository (always) ------------------------------------------------------
#
# Exists whatever the flag, so that turning the tier off never deletes images
# and CI can push before the tier exists. Removing it: docs/deployment.md,
# rollback of phase 3.

resource "aws_ecr_repository" "this" {
  name                 = var.ecr_repository_name
  image_tag_mutability = var.ecr_image_tag_mutability
  force_delete         = false

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.ecr_kms_key_arn
  }

  tags = local.tags

  lifecycle {
    prevent_destroy = true

    postcondition {
      condition     = self.repository_url == local.repository_url
      error_message = "The ECR repository URL differs from the one this module computes for the task definition's image."
    }
  }
}

# -- Mode parameter ---------------------------------------------------------------

resource "aws_ssm_parameter" "mode" {
  #checkov:skip=CKV2_AWS_34:Not a secret: one of five public mode names. A String, as the plan specifies; a SecureString would need kms:Decrypt on the task role (more than ssm:GetParameter) and --ssm-with-decryption.
  count = local.enabled

  name        = var.parameter_name
  description = "sinkhole's mode: defer, bounce, accept, accept-log or greylist. Set it with aws ssm put-parameter --overwrite; Terraform only creates it."
  type        = "String"
  tier        = "Standard"
  data_type   = "text"
  value       = var.initial_mode

  # SSM itself refuses any other value, so a typo fails at put-parameter
  # instead of leaving sinkhole in its last good mode with an error in its log.
  allowed_pattern = "^(defer|bounce|accept|accept-log|greylist)$"

  tags = local.tags

  lifecycle {
    # Operators switch the mode with put-parameter; an apply must not switch it back.
    ignore_changes = [value]

    postcondition {
      condition     = self.arn == local.parameter_arn
      error_message = "The SSM parameter's ARN differs from the one the task role's policy allows."
    }
  }
}

# -- Logs -------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:Optional: log_kms_key_arn sets a customer key. Default encryption is enough for a test fixture's envelope and headers of test mail; a key would cost more than the tier.
  #checkov:skip=CKV_AWS_338:A test fixture's logs are worth days, not a year: retention is log_retention_days (30 by default).
  count = local.enabled

  name              = "/ecs/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn

  tags = local.tags
}

# -- Safety net: mail queued for sinkhole.test on smtp-out ----------------------------
#
# No production code sends to sinkhole.test. A message to it that smtp-out
# queues outside a test session is a bug or a leftover of a test. The filter
# counts sendmail's to= lines for sinkhole.test recipients that end Deferred
# (retries) or queued (accepted without an attempt); the alarm fires on one in
# five minutes. Not gated on the flag: a leftover matters most once the tier
# is gone, and smtp-out runs in prod too. It is the pattern the runbook
# (docs/testing/queue-persistence.md) tests with aws logs test-metric-filter:
# a CloudWatch regex between % signs, which allows no parentheses, so [Dq]
# stands in for (Deferred|queued). It matches anywhere in the line, so a JSON
# or prefixed line matches too.

locals {
  queued_enabled = var.smtp_out_log_group_name == null ? 0 : 1
  queued_pattern = "%@sinkhole\\.test.*stat=[Dq]%"
}

resource "aws_cloudwatch_log_metric_filter" "sinkhole_test_queued" {
  count = local.queued_enabled

  name           = "sinkhole-test-queued"
  log_group_name = var.smtp_out_log_group_name
  pattern        = local.queued_pattern

  metric_transformation {
    name      = var.queued_metric_name
    namespace = var.queued_metric_namespace
    value     = "1"
    # 0 on every line that does not match, so the metric has data, and the
    # alarm goes back to OK, between incidents.
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "sinkhole_test_queued" {
  count = local.queued_enabled

  alarm_name        = "${var.environment}-smtp-out-sinkhole-test-queued"
  alarm_description = "smtp-out queued mail for sinkhole.test. Expected during a queue-persistence test; otherwise see docs/testing/queue-persistence.md (sinkhole repository), step 8."

  # From the filter, so the alarm is created after it and watches its metric.
  namespace   = aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].metric_transformation[0].namespace
  metric_name = aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].metric_transformation[0].name
  statistic   = "Sum"
  period      = 300

  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  # No line from smtp-out in five minutes is no queued mail.
  treat_missing_data = "notBreaching"

  alarm_actions = var.queued_alarm_actions

  tags = local.tags
}

# -- IAM ----------------------------------------------------------------------------

locals {
  # Only ECS tasks of this account may assume the roles (confused-deputy guard).
  ecs_tasks_trust_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:*" }
      }
    }]
  })
}

# Task role: what sinkhole itself may do. Read the one mode parameter, nothing
# else (no ECS Exec, no other parameter, no decryption: the parameter is a String).
resource "aws_iam_role" "task" {
  count = local.enabled

  name               = "${local.name}-task"
  description        = "sinkhole task: ssm:GetParameter on ${var.parameter_name} only."
  assume_role_policy = local.ecs_tasks_trust_policy

  tags = local.tags
}

resource "aws_iam_role_policy" "task" {
  count = local.enabled

  name = "read-mode-parameter"
  role = aws_iam_role.task[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "ReadSinkholeMode"
      Effect   = "Allow"
      Action   = "ssm:GetParameter"
      Resource = local.parameter_arn
    }]
  })
}

# Execution role: what the ECS agent does for the task: pull the image from
# ECR and write to the log group (AmazonECSTaskExecutionRolePolicy).
resource "aws_iam_role" "execution" {
  count = local.enabled

  name               = "${local.name}-execution"
  description        = "ECS agent for the sinkhole task: ECR pull and CloudWatch Logs."
  assume_role_policy = local.ecs_tasks_trust_policy

  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  count = local.enabled

  role       = aws_iam_role.execution[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

# -- Security group -------------------------------------------------------------------
#
# Inline rules, so Terraform owns the whole rule set: a rule added by hand is
# removed by the next apply. In: the SMTP port from the VPC only. Out: 443 only,
# for the SSM API (sinkhole opens no other connection). DNS to the VPC resolver,
# the task credentials endpoint and instance metadata are not filtered by
# security groups; image pulls and awslogs go through the container instance,
# not the task's ENI.

resource "aws_security_group" "this" {
  count = local.enabled

  name        = local.name
  description = "sinkhole: SMTP from the VPC in, HTTPS (SSM) out"
  vpc_id      = var.vpc_id

  ingress {
    description = "SMTP from inside the VPC (smtp-out)"
    protocol    = "tcp"
    from_port   = var.container_port
    to_port     = var.container_port
    cidr_blocks = [var.vpc_cidr]
  }

  egress {
    description = "HTTPS to the SSM API (no AWS-managed prefix list exists for it)"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = var.egress_cidr_blocks
  }

  tags = merge(local.tags, { Name = local.name })

  lifecycle {
    create_before_destroy = true
  }
}

# -- Task definition --------------------------------------------------------------------

resource "aws_ecs_task_definition" "this" {
  count = local.enabled

  family                   = local.name
  requires_compatibilities = ["EC2"]
  network_mode             = "awsvpc"
  task_role_arn            = aws_iam_role.task[0].arn
  execution_role_arn       = aws_iam_role.execution[0].arn

  container_definitions = jsonencode([{
    name      = local.container_name
    image     = local.container_image
    essential = true

    memoryReservation = var.memory_reservation
    memory            = var.memory

    user                   = var.container_user
    readonlyRootFilesystem = true
    privileged             = false

    # Port 25 as non-root without any capability: in the task's own network
    # namespace (awsvpc), every port is unprivileged. Docker 20.10+ does this
    # by default; set here so it does not depend on the agent's Docker.
    systemControls = [{
      namespace = "net.ipv4.ip_unprivileged_port_start"
      value     = "0"
    }]

    # One descriptor per connection: room for 50,000 (sinkhole raises its soft
    # limit to this hard limit at start, and warns when it is below
    # --max-connections).
    ulimits = [{
      name      = "nofile"
      softLimit = var.open_files_limit
      hardLimit = var.open_files_limit
    }]

    linuxParameters = {
      capabilities = {
        add  = []
        drop = ["ALL"]
      }
    }

    portMappings = [{
      containerPort = var.container_port
      hostPort      = var.container_port
      protocol      = "tcp"
    }]

    environment = [
      { name = "AWS_REGION", value = local.region },
      { name = "SINKHOLE_LISTEN", value = "0.0.0.0:${var.container_port}" },
      { name = "SINKHOLE_LOG_FORMAT", value = "json" },
      { name = "SINKHOLE_MODE_CACHE_TTL", value = "${var.mode_cache_ttl_seconds}s" },
      { name = "SINKHOLE_MODE_SOURCE", value = "ssm:${var.parameter_name}" },
    ]

    healthCheck = {
      command     = ["CMD", "/usr/local/bin/sinkhole", "healthcheck"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 10
    }

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.this[0].name
        "awslogs-region"        = local.region
        "awslogs-stream-prefix" = "sinkhole"
        # Never let a slow CloudWatch stall SMTP sessions (which would look
        # like sinkhole behaviour); lines beyond the buffer are dropped.
        "mode"            = "non-blocking"
        "max-buffer-size" = "25m"
      }
    }
  }])

  tags = local.tags

  lifecycle {
    # Same clause as the other tiers: the deploy pipeline registers new
    # revisions; Terraform must not fight it. Changes to the container
    # (image_tag, memory, environment) therefore apply only when the task
    # definition is created - see docs/deployment.md.
    ignore_changes = [container_definitions]

    precondition {
      condition     = !(var.sinkhole && var.environment == "prod")
      error_message = "Sinkhole tier must never run in prod."
    }

    precondition {
      condition     = var.image_tag != null
      error_message = "image_tag is required when sinkhole = true: the tag CI pushed to the ECR repository."
    }
  }
}

# -- Cloud Map ------------------------------------------------------------------------------

resource "aws_service_discovery_service" "this" {
  count = local.enabled

  name = var.cloud_map_service_name

  # The provider deregisters any instance left in the service before deleting
  # it: the last line of defence if the reconciliation below did not run.
  force_destroy = true

  dns_config {
    namespace_id   = var.cloud_map_namespace_id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  # ECS reports task health to Cloud Map. AWS pins the threshold to 1 server-side.
  health_check_custom_config {
    failure_threshold = 1
  }

  tags = local.tags

  lifecycle {
    # The block forces replacement when it changes. Should the provider ever
    # read it back differently from the config (AWS sets it itself), a silent
    # replacement would orphan the running task: ignore it.
    ignore_changes = [health_check_custom_config]
  }
}

# Orphan reconciliation, the terraform_data.<svc>_cloud_map_lifecycle pattern
# of the other tiers, adapted:
#
# ECS registers a task in Cloud Map only when the task starts, and Cloud Map
# refuses DeleteService while instances are registered. So, whenever the Cloud
# Map service goes away (the flag turned off, or a replacement):
#
#   destroy (this resource first: it depends on the ECS service and the Cloud
#   Map service): scripts/cloud-map-drain.sh scales the ECS service to 0, waits
#   for it to be stable, then deregisters every instance still in the Cloud Map
#   service and waits until none is left.
#   -> the ECS service is destroyed (flag off) or updated to the new registry
#   -> the Cloud Map service is destroyed, now empty.
#
#   create (after the ECS service points at the current Cloud Map service):
#   scripts/cloud-map-rebind.sh sets the desired count back (the drain set it
#   to 0 outside Terraform), so a new task registers with the current service.
#
# Needs the AWS CLI (v1 or v2) and credentials on the machine running apply.
# Destroy-time provisioners run only while this block is in the configuration:
# turn the flag off and apply BEFORE deleting the module block.

resource "terraform_data" "sinkhole_cloud_map_lifecycle" {
  count = local.enabled

  triggers_replace = [aws_service_discovery_service.this[0].id]

  input = {
    region               = local.region
    cluster              = var.ecs_cluster_arn
    ecs_service          = aws_ecs_service.this[0].name
    cloud_map_service_id = aws_service_discovery_service.this[0].id
    # The script's text, not its path: a destroy must not depend on where the
    # module was checked out when the resource was created.
    drain_script = file("${path.module}/scripts/cloud-map-drain.sh")
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = ["bash", "-c"]
    command     = self.input.drain_script
    environment = {
      AWS_REGION           = self.input.region
      ECS_CLUSTER          = self.input.cluster
      ECS_SERVICE          = self.input.ecs_service
      CLOUD_MAP_SERVICE_ID = self.input.cloud_map_service_id
    }
  }

  provisioner "local-exec" {
    interpreter = ["bash", "-c"]
    command     = file("${path.module}/scripts/cloud-map-rebind.sh")
    environment = {
      AWS_REGION    = local.region
      ECS_CLUSTER   = var.ecs_cluster_arn
      ECS_SERVICE   = aws_ecs_service.this[0].name
      DESIRED_COUNT = tostring(local.desired_count)
    }
  }

  depends_on = [aws_ecs_service.this]
}

# -- ECS service ------------------------------------------------------------------------------

resource "aws_ecs_service" "this" {
  count = local.enabled

  name            = local.name
  cluster         = var.ecs_cluster_arn
  task_definition = aws_ecs_task_definition.this[0].arn
  desired_count   = local.desired_count
  launch_type     = var.capacity_provider_name == null ? "EC2" : null

  dynamic "capacity_provider_strategy" {
    for_each = var.capacity_provider_name == null ? [] : [var.capacity_provider_name]
    content {
      capacity_provider = capacity_provider_strategy.value
      weight            = 100
    }
  }

  # One task, no autoscaling. A replacement stops the old task first (an EC2
  # instance has few ENIs to spare for awsvpc tasks).
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # ECS Exec would need ssmmessages:* on the task role: off.
  enable_execute_command = false

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this[0].id]
    assign_public_ip = false
  }

  # No load balancer: Cloud Map is the only way in.
  service_registries {
    registry_arn = aws_service_discovery_service.this[0].arn
  }

  propagate_tags = "SERVICE"
  tags           = local.tags

  lifecycle {
    # The deploy pipeline moves the service to new task definition revisions;
    # an apply must not roll it back to the revision Terraform registered.
    ignore_changes = [task_definition]
  }
}
