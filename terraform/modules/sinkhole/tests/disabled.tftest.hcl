# var.sinkhole = false (the default): only the ECR repository (and the prod
# guard, which exists only in the state) is planned; every output of the tier
# is null.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment              = "stage"
  vpc_id                   = "vpc-0123456789abcdef0"
  subnet_ids               = ["subnet-0123456789abcdef0"]
  vpc_cidr                 = "10.20.0.0/16"
  ecs_cluster_arn          = "arn:aws:ecs:eu-west-2:123456789012:cluster/cabal-mail"
  cloud_map_namespace_id   = "ns-abcdefghijklmnop"
  cloud_map_namespace_name = "cabal.internal"
}

run "flag_off_by_default_plans_only_the_ecr_repository" {
  command = plan

  # No sinkhole variable and no image_tag: the defaults must be the safe ones.

  assert {
    condition     = var.sinkhole == false
    error_message = "var.sinkhole must default to false."
  }

  assert {
    condition     = aws_ecr_repository.this.name == "cabal-sinkhole"
    error_message = "The ECR repository must be planned whatever the flag."
  }

  assert {
    condition = alltrue([
      length(aws_ssm_parameter.mode) == 0,
      length(aws_cloudwatch_log_group.this) == 0,
      length(aws_iam_role.task) == 0,
      length(aws_iam_role_policy.task) == 0,
      length(aws_iam_role.execution) == 0,
      length(aws_iam_role_policy_attachment.execution) == 0,
      length(aws_security_group.this) == 0,
      length(aws_ecs_task_definition.this) == 0,
      length(aws_service_discovery_service.this) == 0,
      length(terraform_data.sinkhole_cloud_map_lifecycle) == 0,
      length(aws_ecs_service.this) == 0,
    ])
    error_message = "With the flag off, every gated resource must have count 0."
  }

  assert {
    condition = alltrue([
      output.parameter_name == null,
      output.parameter_arn == null,
      output.ecs_service_name == null,
      output.task_definition_family == null,
      output.cloud_map_service_arn == null,
      output.cloud_map_dns_name == null,
      output.mailertable_entry == null,
      output.task_role_arn == null,
      output.execution_role_arn == null,
      output.security_group_id == null,
      output.log_group_name == null,
    ])
    error_message = "With the flag off, every output of the tier must be null."
  }
}

run "flag_off_and_quiesced_still_plans_nothing_of_the_tier" {
  command = plan

  variables {
    sinkhole = false
    quiesced = true
  }

  assert {
    condition     = length(aws_ecs_service.this) == 0 && length(aws_service_discovery_service.this) == 0
    error_message = "quiesced must not create anything when the flag is off."
  }
}
