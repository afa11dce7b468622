# var.sinkhole = true in stage: the whole tier, with the values the plan
# (cabalmail-sinkhole-plan) specifies. Every run is a plan against the mocked
# provider (account 123456789012, region eu-west-2: tests/mocks).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment              = "stage"
  sinkhole                 = true
  vpc_id                   = "vpc-0123456789abcdef0"
  subnet_ids               = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  vpc_cidr                 = "10.20.0.0/16"
  ecs_cluster_arn          = "arn:aws:ecs:eu-west-2:123456789012:cluster/cabal-mail"
  cloud_map_namespace_id   = "ns-abcdefghijklmnop"
  cloud_map_namespace_name = "cabal.internal"
  image_tag                = "0123456789abcdef0123456789abcdef01234567"
}

run "stage_with_sinkhole_plans_the_tier" {
  command = plan

  assert {
    condition = alltrue([
      length(aws_ssm_parameter.mode) == 1,
      length(aws_cloudwatch_log_group.this) == 1,
      length(aws_iam_role.task) == 1,
      length(aws_iam_role_policy.task) == 1,
      length(aws_iam_role.execution) == 1,
      length(aws_iam_role_policy_attachment.execution) == 1,
      length(aws_security_group.this) == 1,
      length(aws_ecs_task_definition.this) == 1,
      length(aws_service_discovery_service.this) == 1,
      length(terraform_data.sinkhole_cloud_map_lifecycle) == 1,
      length(aws_ecs_service.this) == 1,
    ])
    error_message = "With the flag on in stage, every resource of the tier must be planned once."
  }

  assert {
    condition     = output.cloud_map_dns_name == "sinkhole.cabal.internal"
    error_message = "The DNS name must be sinkhole.<namespace>."
  }

  assert {
    condition     = output.mailertable_entry == "sinkhole.test smtp:[sinkhole.cabal.internal]"
    error_message = "The mailertable entry must route sinkhole.test to [sinkhole.cabal.internal]:25."
  }

  assert {
    condition     = output.parameter_name == "/cabal/sinkhole_mode"
    error_message = "The parameter name output must be /cabal/sinkhole_mode."
  }
}

run "ecr_repository" {
  command = plan

  assert {
    condition     = aws_ecr_repository.this.name == "cabal-sinkhole"
    error_message = "The repository must be called cabal-sinkhole."
  }

  assert {
    condition     = aws_ecr_repository.this.image_scanning_configuration[0].scan_on_push == true
    error_message = "Images must be scanned on push."
  }

  assert {
    condition     = aws_ecr_repository.this.image_tag_mutability == "IMMUTABLE"
    error_message = "Tags must be immutable by default."
  }

  assert {
    condition     = aws_ecr_repository.this.encryption_configuration[0].encryption_type == "KMS"
    error_message = "The repository must be KMS-encrypted."
  }

  assert {
    condition     = aws_ecr_repository.this.force_delete == false
    error_message = "force_delete must stay false: deleting the repository must never delete images."
  }
}

run "task_role_allows_exactly_ssm_get_parameter_on_the_parameter_arn" {
  command = plan

  assert {
    condition     = length(jsondecode(aws_iam_role_policy.task[0].policy).Statement) == 1
    error_message = "The task role policy must have exactly one statement."
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.task[0].policy).Statement[0].Effect == "Allow"
    error_message = "The statement must be an Allow."
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.task[0].policy).Statement[0].Action == "ssm:GetParameter"
    error_message = "The only action must be ssm:GetParameter."
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.task[0].policy).Statement[0].Resource == "arn:aws:ssm:eu-west-2:123456789012:parameter/cabal/sinkhole_mode"
    error_message = "The only resource must be the parameter's ARN, with a single slash after parameter."
  }

  assert {
    condition     = toset(keys(jsondecode(aws_iam_role_policy.task[0].policy).Statement[0])) == toset(["Sid", "Effect", "Action", "Resource"])
    error_message = "The statement must have no NotAction, NotResource, Principal or Condition."
  }

  assert {
    condition     = aws_iam_role_policy.task[0].name == "read-mode-parameter"
    error_message = "The task role's only inline policy is read-mode-parameter."
  }

  assert {
    condition     = jsondecode(aws_iam_role.task[0].assume_role_policy).Statement[0].Principal.Service == "ecs-tasks.amazonaws.com"
    error_message = "Only ECS tasks may assume the task role."
  }

  assert {
    condition     = jsondecode(aws_iam_role.task[0].assume_role_policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    error_message = "The trust policy must be limited to this account."
  }
}

run "execution_role_has_the_managed_execution_policy" {
  command = plan

  assert {
    condition     = aws_iam_role_policy_attachment.execution[0].policy_arn == "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    error_message = "The execution role must carry AmazonECSTaskExecutionRolePolicy."
  }
}

run "parameter_without_a_leading_slash_gets_the_right_arn" {
  command = plan

  variables {
    parameter_name = "sinkhole_mode"
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.task[0].policy).Statement[0].Resource == "arn:aws:ssm:eu-west-2:123456789012:parameter/sinkhole_mode"
    error_message = "A flat name gives parameter/<name>."
  }

  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].environment : e.name => e.value }["SINKHOLE_MODE_SOURCE"] == "ssm:sinkhole_mode"
    error_message = "The task must read the parameter the role allows."
  }
}

run "ssm_parameter_is_a_string_created_with_defer" {
  command = plan

  assert {
    condition     = aws_ssm_parameter.mode[0].name == "/cabal/sinkhole_mode"
    error_message = "The parameter must be /cabal/sinkhole_mode."
  }

  assert {
    condition     = aws_ssm_parameter.mode[0].type == "String"
    error_message = "The parameter must be a String."
  }

  assert {
    condition     = nonsensitive(aws_ssm_parameter.mode[0].value) == "defer"
    error_message = "The parameter must be created with defer."
  }

  assert {
    condition     = aws_ssm_parameter.mode[0].allowed_pattern == "^(defer|bounce|accept|accept-log|greylist)$"
    error_message = "SSM must refuse values that are not mode names."
  }
}

run "security_group_rules" {
  command = plan

  assert {
    condition     = aws_security_group.this[0].vpc_id == "vpc-0123456789abcdef0"
    error_message = "The security group must be in the given VPC."
  }

  assert {
    condition     = length(aws_security_group.this[0].ingress) == 1 && length(aws_security_group.this[0].egress) == 1
    error_message = "Exactly one ingress and one egress rule."
  }

  assert {
    condition = (
      one(aws_security_group.this[0].ingress).protocol == "tcp"
      && one(aws_security_group.this[0].ingress).from_port == 25
      && one(aws_security_group.this[0].ingress).to_port == 25
      && one(aws_security_group.this[0].ingress).cidr_blocks == tolist(["10.20.0.0/16"])
      && try(length(one(aws_security_group.this[0].ingress).ipv6_cidr_blocks), 0) == 0
      && try(length(one(aws_security_group.this[0].ingress).security_groups), 0) == 0
      && try(length(one(aws_security_group.this[0].ingress).prefix_list_ids), 0) == 0
    )
    error_message = "Ingress must be 25/tcp from the VPC CIDR only."
  }

  assert {
    condition = (
      one(aws_security_group.this[0].egress).protocol == "tcp"
      && one(aws_security_group.this[0].egress).from_port == 443
      && one(aws_security_group.this[0].egress).to_port == 443
      && one(aws_security_group.this[0].egress).cidr_blocks == tolist(["0.0.0.0/0"])
      && try(length(one(aws_security_group.this[0].egress).ipv6_cidr_blocks), 0) == 0
    )
    error_message = "Egress must be 443/tcp only."
  }
}

run "egress_can_be_limited_to_the_vpc" {
  command = plan

  variables {
    egress_cidr_blocks = ["10.20.0.0/16"]
  }

  assert {
    condition     = one(aws_security_group.this[0].egress).cidr_blocks == tolist(["10.20.0.0/16"])
    error_message = "egress_cidr_blocks must set the egress destination."
  }
}

run "container_definition" {
  command = plan

  assert {
    condition     = aws_ecs_task_definition.this[0].network_mode == "awsvpc"
    error_message = "network_mode must be awsvpc."
  }

  assert {
    condition     = aws_ecs_task_definition.this[0].requires_compatibilities == toset(["EC2"])
    error_message = "The task must require EC2."
  }

  assert {
    condition     = length(jsondecode(aws_ecs_task_definition.this[0].container_definitions)) == 1
    error_message = "One container."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].image == "123456789012.dkr.ecr.eu-west-2.amazonaws.com/cabal-sinkhole:0123456789abcdef0123456789abcdef01234567"
    error_message = "The image must be <account>.dkr.ecr.<region>.amazonaws.com/cabal-sinkhole:<image_tag>."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].memory == 128
    error_message = "The hard memory limit must be 128 MiB."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].memoryReservation == 64
    error_message = "The memory reservation must be 64 MiB."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].readonlyRootFilesystem == true
    error_message = "The root filesystem must be read-only."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].user == "65532:65532"
    error_message = "The container must run as the non-root uid."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].privileged == false
    error_message = "The container must not be privileged."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].linuxParameters.capabilities.add == []
    error_message = "No capability may be added."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].ulimits == [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    error_message = "The container must be allowed 65536 open files (one per connection)."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].systemControls == [{ namespace = "net.ipv4.ip_unprivileged_port_start", value = "0" }]
    error_message = "Port 25 must be bindable as non-root through the namespaced sysctl, not a capability."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].linuxParameters.capabilities.drop == ["ALL"]
    error_message = "Every other capability must be dropped."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].portMappings == [{ containerPort = 25, hostPort = 25, protocol = "tcp" }]
    error_message = "The only port mapping must be 25/tcp."
  }

  assert {
    condition = { for e in jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].environment : e.name => e.value } == {
      AWS_REGION              = "eu-west-2"
      SINKHOLE_LISTEN         = "0.0.0.0:25"
      SINKHOLE_LOG_FORMAT     = "json"
      SINKHOLE_MODE_CACHE_TTL = "30s"
      SINKHOLE_MODE_SOURCE    = "ssm:/cabal/sinkhole_mode"
    }
    error_message = "The environment must be exactly AWS_REGION, SINKHOLE_LISTEN, SINKHOLE_LOG_FORMAT, SINKHOLE_MODE_CACHE_TTL and SINKHOLE_MODE_SOURCE=ssm:/cabal/sinkhole_mode."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].healthCheck.command == ["CMD", "/usr/local/bin/sinkhole", "healthcheck"]
    error_message = "The health check must run sinkhole healthcheck."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].logConfiguration.logDriver == "awslogs"
    error_message = "Logs must go to the awslogs driver."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].logConfiguration.options["awslogs-group"] == aws_cloudwatch_log_group.this[0].name
    error_message = "Logs must go to the tier's log group."
  }

  assert {
    condition     = aws_cloudwatch_log_group.this[0].name == "/ecs/cabal-sinkhole" && aws_cloudwatch_log_group.this[0].retention_in_days == 30
    error_message = "The log group must be /ecs/cabal-sinkhole with 30 days' retention."
  }
}

run "container_port_2525_moves_listener_mapping_and_ingress_together" {
  command = plan

  variables {
    container_port = 2525
  }

  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].environment : e.name => e.value }["SINKHOLE_LISTEN"] == "0.0.0.0:2525"
    error_message = "SINKHOLE_LISTEN must follow container_port."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].portMappings[0].containerPort == 2525
    error_message = "The port mapping must follow container_port."
  }

  assert {
    condition     = one(aws_security_group.this[0].ingress).from_port == 2525 && one(aws_security_group.this[0].ingress).to_port == 2525
    error_message = "The ingress rule must follow container_port."
  }

  assert {
    condition     = output.mailertable_entry == null
    error_message = "The mailertable entry must follow container_port."
  }
}

run "ecs_service" {
  command = plan

  assert {
    condition     = aws_ecs_service.this[0].desired_count == 1
    error_message = "Desired count must be 1."
  }

  assert {
    condition     = aws_ecs_service.this[0].launch_type == "EC2"
    error_message = "Launch type must be EC2."
  }

  assert {
    condition     = aws_ecs_service.this[0].cluster == "arn:aws:ecs:eu-west-2:123456789012:cluster/cabal-mail"
    error_message = "The service must run in the given cluster."
  }

  assert {
    condition     = length(aws_ecs_service.this[0].load_balancer) == 0
    error_message = "No load balancer: Cloud Map is the only way in."
  }

  assert {
    condition     = length(aws_ecs_service.this[0].service_registries) == 1
    error_message = "The service must register with Cloud Map."
  }

  assert {
    condition     = aws_ecs_service.this[0].network_configuration[0].subnets == toset(["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"])
    error_message = "The task must use the given subnets."
  }

  assert {
    condition     = aws_ecs_service.this[0].network_configuration[0].assign_public_ip == false
    error_message = "The task must get no public IP."
  }

  assert {
    condition     = aws_ecs_service.this[0].enable_execute_command == false
    error_message = "ECS Exec must be off (it would need more than ssm:GetParameter)."
  }
}

run "capacity_provider_replaces_the_launch_type" {
  command = plan

  variables {
    capacity_provider_name = "cabal-ec2"
  }

  assert {
    condition     = one(aws_ecs_service.this[0].capacity_provider_strategy).capacity_provider == "cabal-ec2"
    error_message = "The capacity provider must be used."
  }
}

run "cloud_map_service" {
  command = plan

  assert {
    condition     = aws_service_discovery_service.this[0].name == "sinkhole"
    error_message = "The Cloud Map service must be called sinkhole."
  }

  assert {
    condition     = aws_service_discovery_service.this[0].dns_config[0].namespace_id == "ns-abcdefghijklmnop"
    error_message = "The Cloud Map service must be in the given namespace."
  }

  assert {
    condition     = aws_service_discovery_service.this[0].dns_config[0].routing_policy == "MULTIVALUE"
    error_message = "Routing policy must be MULTIVALUE."
  }

  assert {
    condition = (
      length(aws_service_discovery_service.this[0].dns_config[0].dns_records) == 1
      && aws_service_discovery_service.this[0].dns_config[0].dns_records[0].type == "A"
      && aws_service_discovery_service.this[0].dns_config[0].dns_records[0].ttl == 10
    )
    error_message = "One A record with TTL 10."
  }

  assert {
    condition     = aws_service_discovery_service.this[0].health_check_custom_config[0].failure_threshold == 1
    error_message = "health_check_custom_config.failure_threshold must be 1."
  }

  assert {
    condition     = aws_service_discovery_service.this[0].force_destroy == true
    error_message = "force_destroy must be on (last line of defence against orphans)."
  }
}
