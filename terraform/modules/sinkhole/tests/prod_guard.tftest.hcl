# The prod guard: var.sinkhole = true with environment = "prod" must fail the
# plan at the preconditions, before anything is created. Every run is a plan.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  vpc_id                   = "vpc-0123456789abcdef0"
  subnet_ids               = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  vpc_cidr                 = "10.20.0.0/16"
  ecs_cluster_arn          = "arn:aws:ecs:eu-west-2:123456789012:cluster/cabal-mail"
  cloud_map_namespace_id   = "ns-abcdefghijklmnop"
  cloud_map_namespace_name = "cabal.internal"
  image_tag                = "0123456789abcdef0123456789abcdef01234567"
}

run "prod_with_sinkhole_fails_at_the_precondition" {
  command = plan

  variables {
    environment = "prod"
    sinkhole    = true
  }

  # Both preconditions fire: the un-gated guard and the task definition's.
  expect_failures = [
    terraform_data.prod_guard,
    aws_ecs_task_definition.this,
  ]
}

run "prod_with_sinkhole_fails_even_when_quiesced" {
  command = plan

  variables {
    environment = "prod"
    sinkhole    = true
    quiesced    = true
  }

  expect_failures = [
    terraform_data.prod_guard,
    aws_ecs_task_definition.this,
  ]
}

run "prod_without_sinkhole_plans_only_the_ecr_repository" {
  command = plan

  variables {
    environment = "prod"
    sinkhole    = false
  }

  assert {
    condition     = aws_ecr_repository.this.name == "cabal-sinkhole"
    error_message = "The ECR repository must exist in prod too (phase 3)."
  }

  assert {
    condition     = terraform_data.prod_guard.input == "prod"
    error_message = "The prod guard must be planned in prod."
  }

  assert {
    condition     = length(aws_ecs_task_definition.this) == 0 && length(aws_ecs_service.this) == 0
    error_message = "No sinkhole task definition or service may be planned in prod."
  }
}

run "production_is_not_a_way_around_the_guard" {
  command = plan

  variables {
    environment = "production"
    sinkhole    = true
  }

  expect_failures = [var.environment]
}

run "Prod_capitalised_is_not_a_way_around_the_guard" {
  command = plan

  variables {
    environment = "Prod"
    sinkhole    = true
  }

  expect_failures = [var.environment]
}

run "dev_with_sinkhole_plans" {
  command = plan

  variables {
    environment = "dev"
    sinkhole    = true
  }

  assert {
    condition     = length(aws_ecs_service.this) == 1
    error_message = "dev with the flag on must plan the tier."
  }
}

run "development_with_sinkhole_plans" {
  command = plan

  variables {
    environment = "development"
    sinkhole    = true
  }

  assert {
    condition     = length(aws_ecs_service.this) == 1
    error_message = "development with the flag on must plan the tier."
  }
}
