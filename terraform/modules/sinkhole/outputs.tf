# Outputs of the tier are null when var.sinkhole = false; the ECR repository
# exists in every case.

output "ecr_repository_url" {
  description = "URL of the ECR repository (CI pushes URL:TAG)."
  value       = aws_ecr_repository.this.repository_url
}

output "ecr_repository_arn" {
  description = "ARN of the ECR repository."
  value       = aws_ecr_repository.this.arn
}

output "parameter_name" {
  description = "Name of the SSM parameter holding the mode (what aws ssm put-parameter --name takes)."
  value       = try(aws_ssm_parameter.mode[0].name, null)
}

output "parameter_arn" {
  description = "ARN of the SSM parameter holding the mode."
  value       = try(aws_ssm_parameter.mode[0].arn, null)
}

output "ecs_service_name" {
  description = "Name of the ECS service."
  value       = try(aws_ecs_service.this[0].name, null)
}

output "task_definition_family" {
  description = "Family of the task definition (the deploy pipeline registers new revisions in it)."
  value       = try(aws_ecs_task_definition.this[0].family, null)
}

output "cloud_map_service_arn" {
  description = "ARN of the Cloud Map service."
  value       = try(aws_service_discovery_service.this[0].arn, null)
}

output "cloud_map_dns_name" {
  description = "DNS name smtp-out connects to, e.g. sinkhole.cabal.internal."
  value       = var.sinkhole ? local.dns_name : null
}

output "mailertable_entry" {
  description = "The sendmail mailertable line that routes sinkhole.test here. No port: in a mailertable a colon separates fallback hosts, so it is null unless container_port is 25 (another port needs a mailer of its own, docs/mta-integration.md)."
  value       = var.sinkhole && var.container_port == 25 ? "sinkhole.test smtp:[${local.dns_name}]" : null
}

output "task_role_arn" {
  description = "ARN of the task role (ssm:GetParameter on the mode parameter only)."
  value       = try(aws_iam_role.task[0].arn, null)
}

output "execution_role_arn" {
  description = "ARN of the task execution role."
  value       = try(aws_iam_role.execution[0].arn, null)
}

output "security_group_id" {
  description = "Id of the task's security group."
  value       = try(aws_security_group.this[0].id, null)
}

output "log_group_name" {
  description = "CloudWatch log group receiving sinkhole's stdout."
  value       = try(aws_cloudwatch_log_group.this[0].name, null)
}

# The safety net: null when smtp_out_log_group_name is null.

output "queued_alarm_arn" {
  description = "ARN of the alarm on mail queued for sinkhole.test in smtp-out's log group; null without smtp_out_log_group_name."
  value       = try(aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].arn, null)
}

output "queued_alarm_name" {
  description = "Name of that alarm, ENVIRONMENT-smtp-out-sinkhole-test-queued (what aws cloudwatch describe-alarms --alarm-names takes); null without smtp_out_log_group_name."
  value       = try(aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].alarm_name, null)
}
