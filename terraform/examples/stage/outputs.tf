output "sinkhole_dns_name" {
  description = "Where smtp-out connects: sinkhole.cabal.internal."
  value       = module.sinkhole.cloud_map_dns_name
}

output "sinkhole_mailertable_entry" {
  description = "smtp-out's mailertable line for sinkhole.test."
  value       = module.sinkhole.mailertable_entry
}

output "sinkhole_parameter_name" {
  description = "aws ssm put-parameter --name <this> --value <mode> --overwrite"
  value       = module.sinkhole.parameter_name
}

output "sinkhole_ecr_repository_url" {
  description = "Where CI pushes the image."
  value       = module.sinkhole.ecr_repository_url
}

output "sinkhole_ecs_service_name" {
  description = "ECS service name (aws ecs describe-services --services <this>)."
  value       = module.sinkhole.ecs_service_name
}

output "sinkhole_queued_alarm_name" {
  description = "The alarm on mail queued for sinkhole.test (null without smtp_out_log_group_name)."
  value       = module.sinkhole.queued_alarm_name
}
